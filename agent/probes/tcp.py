"""TCP connect: the fallback for devices that speak neither ONVIF nor SNMP, and the test of
whether a host is there at all when the protocol it is watched by is silent."""

from __future__ import annotations

import asyncio
import time

from agent.probes.base import ProbeResult, Target, connection_reason
from agent.wire import Reason

OPEN = "open"


async def reach(address: str, port: int, timeout_s: float) -> str:
    """``"open"``, or the reason a connection failed, as the probes name it (``refused``,
    ``timeout``, ``unreachable``).

    Only ``open`` proves the host is up: a refusal may come from a firewall answering for
    a host that is gone (an ICMP port-unreachable is read as a refusal too).
    """
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(address.strip("[]"), port)
    except OSError as exc:  # TimeoutError and ConnectionRefusedError included
        return connection_reason(exc).value
    writer.close()
    return OPEN


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
