"""Deep camera checks on a slower cadence, through onvif-zeep-async.

Credentials (GetDeviceInformation), real-time video (GetProfiles, GetStreamUri, then an
RTSP DESCRIBE of that URI) and historical video (GetRecordingSummary: recording present
up to now − tolerance, on cameras that offer the search service). A camera client is
created per deep check and closed after it: kept alive, each costs ~90 KB (9 GB for
100,000 cameras). Every failure becomes a reason; a wrong password is ``auth_failed``,
which is not offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from onvif import ONVIFCamera
from onvif.exceptions import ONVIFAuthError, ONVIFError
from zeep.exceptions import Fault, TransportError, XMLSyntaxError

from agent.probes.base import ProbeResult, Target, combine, connection_reason
from agent.probes.rtsp import RtspAuthError, StreamUnavailableError, describe
from agent.wire import Health, Reason

SEARCH_NS = "http://www.onvif.org/ver10/search/wsdl"


@contextlib.contextmanager
def _proxies_kept() -> Iterator[None]:
    """onvif-zeep-async deletes http_proxy/https_proxy when a camera object is made."""
    saved = {name: os.environ[name] for name in ("http_proxy", "https_proxy") if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _reason(exc: BaseException) -> Reason:
    cause = exc.__cause__ if isinstance(exc, ONVIFError) and exc.__cause__ else exc
    if isinstance(cause, ONVIFAuthError):
        return Reason.AUTH_FAILED
    if isinstance(cause, Fault):
        codes = " ".join(str(code) for code in (cause.code, *(cause.subcodes or [])))
        text = f"{codes} {cause.message}"
        return (
            Reason.AUTH_FAILED
            if "NotAuthorized" in text or "Security" in text
            else Reason.BAD_RESPONSE
        )
    if isinstance(cause, TransportError):
        return Reason.AUTH_FAILED if cause.status_code == 401 else Reason.BAD_RESPONSE
    if isinstance(cause, XMLSyntaxError | ValueError | AttributeError | KeyError | IndexError):
        return Reason.BAD_RESPONSE
    return connection_reason(cause)


def _degraded(reason: Reason, check: str) -> ProbeResult:
    return ProbeResult(Health.DEGRADED, reason, {check: reason})


class OnvifDeepProbe:
    protocol = "onvif"

    def __init__(self, timeout_s: float, recording_tolerance_s: float) -> None:
        self._timeout_s = timeout_s
        self._tolerance_s = recording_tolerance_s

    async def probe(self, target: Target, deep: bool) -> ProbeResult:
        device, credentials = target.device, target.credentials
        assert device.onvif is not None
        with _proxies_kept():
            camera = ONVIFCamera(
                device.address,
                device.onvif.port,
                credentials.username,
                credentials.password,
                no_cache=True,
            )
        try:
            async with asyncio.timeout(self._timeout_s * 4):
                return await self._checks(camera, target)
        except Exception as exc:  # noqa: BLE001 - whatever the camera does is data
            reason = _reason(exc)
            if reason is Reason.AUTH_FAILED:
                return _degraded(reason, "credentials")
            return ProbeResult.down(reason, "credentials")
        finally:
            with contextlib.suppress(Exception):
                await camera.close()

    async def _checks(self, camera: ONVIFCamera, target: Target) -> ProbeResult:
        devicemgmt = await camera.create_devicemgmt_service()
        await devicemgmt.GetDeviceInformation()
        results = [ProbeResult.up({"credentials": Reason.OK})]
        await camera.update_xaddrs()
        results.append(await self._stream(camera, target))
        if SEARCH_NS in camera.xaddrs:
            results.append(await self._recording(camera))
        return combine(*results)

    async def _stream(self, camera: ONVIFCamera, target: Target) -> ProbeResult:
        try:
            media = await camera.create_media_service()
            profiles = await media.GetProfiles()
            reply = await media.GetStreamUri(
                {
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                    "ProfileToken": profiles[0].token,
                }
            )
        except Exception as exc:  # noqa: BLE001
            return _degraded(_reason(exc), "stream")
        credentials = target.credentials
        try:
            await describe(reply.Uri, credentials.username, credentials.password, self._timeout_s)
        except RtspAuthError:
            return _degraded(Reason.AUTH_FAILED, "stream")
        except (StreamUnavailableError, TimeoutError, OSError, asyncio.IncompleteReadError):
            return _degraded(Reason.STREAM_UNAVAILABLE, "stream")
        return ProbeResult.up({"stream": Reason.OK})

    async def _recording(self, camera: ONVIFCamera) -> ProbeResult:
        try:
            search = await camera.create_search_service()
            summary = await search.GetRecordingSummary()
            until = summary.DataUntil
        except Exception as exc:  # noqa: BLE001
            return _degraded(_reason(exc), "recording")
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        lag = (datetime.now(UTC) - until).total_seconds()
        if lag > self._tolerance_s:
            result = _degraded(Reason.NO_RECENT_RECORDING, "recording")
            return ProbeResult(
                result.health, result.reason, result.checks, {"recording_lag_s": lag}
            )
        return ProbeResult.up({"recording": Reason.OK}, recording_lag_s=max(lag, 0.0))
