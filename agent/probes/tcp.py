"""TCP connect: the fallback for devices that speak neither ONVIF nor SNMP."""

from __future__ import annotations

import asyncio
import time

from agent.probes.base import ProbeResult, Target, connection_reason
from agent.wire import Reason


class TcpProbe:
    protocol = "tcp"

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    async def probe(self, target: Target, deep: bool) -> ProbeResult:
        tcp = target.device.tcp
        assert tcp is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                _, writer = await asyncio.open_connection(target.device.address, tcp.port)
        except Exception as exc:  # noqa: BLE001 - every transport failure is data
            return ProbeResult.down(connection_reason(exc), "tcp")
        writer.close()
        rtt_ms = (time.perf_counter() - started) * 1000
        return ProbeResult.up({"tcp": Reason.OK}, rtt_ms=rtt_ms)
