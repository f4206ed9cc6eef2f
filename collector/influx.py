"""Send sealed spool segments to InfluxDB's v2 write API, oldest first, until each is stored.

429, 5xx and connection errors are retried with backoff for as long as it takes (the
spool holds the points meanwhile). 400, 413 and 422 mean the server will never take
that segment: it is moved aside with the server's answer, not retried forever. 401, 403
and 404 mean a wrong token, org or bucket: an operator fixes the config, so those are
retried too, with an error in the log each time.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from collector.spool import Spool
from slawatch.aio import raise_if_cancelled
from slawatch.config.settings import InfluxSettings

log = logging.getLogger(__name__)

NEVER_ACCEPTED = frozenset({400, 413, 422})
SEAL_AFTER_S = 1.0


class InfluxWriter:
    def __init__(
        self,
        settings: InfluxSettings,
        spool: Spool,
        *,
        retry_s: float = 1.0,
        max_retry_s: float = 30,
    ) -> None:
        self._settings = settings
        self._spool = spool
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self.written_segments = 0
        self.rejected_segments = 0
        self.failures = 0
        self.connected = False

    async def run(self) -> None:
        settings = self._settings
        async with InfluxDBClientAsync(
            url=str(settings.url),
            token=settings.token.resolve().get_secret_value(),
            org=settings.org,
            enable_gzip=True,
        ) as client:
            write_api = client.write_api()
            backoff = self._retry_s
            while True:
                raise_if_cancelled()
                self._spool.seal_if_older(SEAL_AFTER_S)
                segments = self._spool.sealed()
                if not segments:
                    await asyncio.sleep(SEAL_AFTER_S / 4)
                    continue
                segment = segments[0]
                text = segment.read_text(encoding="utf-8")
                try:
                    await write_api.write(
                        bucket=settings.bucket,
                        record=text,
                        # The library annotates a WritePrecision but its constants are str.
                        write_precision=WritePrecision.MS,  # type: ignore[arg-type]
                    )
                except ApiException as exc:
                    if exc.status in NEVER_ACCEPTED:
                        self._reject(segment, f"HTTP {exc.status}: {exc.body!s:.2000}")
                        continue
                    self._failed(f"HTTP {exc.status}: {exc.reason}")
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    self._failed(f"{type(exc).__name__}: {exc}")
                else:
                    self._spool.remove(segment)
                    self.written_segments += 1
                    self.connected, backoff = True, self._retry_s
                    continue
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_retry_s)

    def _reject(self, segment: Path, reason: str) -> None:
        self._spool.reject(segment, reason)
        self.rejected_segments += 1
        log.error("InfluxDB refused spool segment %s for good (%s): moved aside", segment, reason)

    def _failed(self, why: str) -> None:
        if self.connected or self.failures == 0:
            log.error("InfluxDB write failed (%s): points stay in the spool and are retried", why)
        self.connected = False
        self.failures += 1
