"""The TCP port an inventory entry names (``tcp: {port: 22}``): a switch's SSH or web
management, a door host's service port.

It accepts connections while the device is reachable and is closed while the device is
down or cut off, as a real host's port would stop answering. The agent connects to it to
tell "host reachable, SNMP silent" (a wrong community) from "host gone". On loopback a
closed port is refused rather than silent; the agent counts only a completed connection
as proof that a host is there, so the two read the same to it.
"""

from __future__ import annotations

import asyncio
import logging

from simulator.devices import DownMode, SimDevice

log = logging.getLogger(__name__)


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


class ManagementPorts:
    def __init__(self) -> None:
        self._devices: dict[str, SimDevice] = {}
        self._servers: dict[str, asyncio.Server] = {}

    @staticmethod
    def serves(device: SimDevice) -> bool:
        """A ``tcp`` section on a port no other simulated server of the device holds."""
        spec = device.spec
        if spec.tcp is None:
            return False
        taken = {section.port for section in (spec.onvif, spec.rtsp) if section is not None}
        return spec.tcp.port not in taken

    async def attach(self, device: SimDevice) -> None:
        self._devices[device.id] = device
        await self.sync(device)

    async def sync(self, device: SimDevice) -> None:
        """Open the port while the device answers (a slow one too: it is there, only
        late), close it while it does not."""
        spec = device.spec
        assert spec.tcp is not None
        wanted = device.reachable_mode() in (None, DownMode.SLOW)
        server = self._servers.get(device.id)
        if wanted and server is None:
            self._servers[device.id] = await asyncio.start_server(
                _hang_up, spec.address, spec.tcp.port, reuse_address=True
            )
        elif not wanted and server is not None:
            server.close()
            del self._servers[device.id]

    async def sync_all(self) -> None:
        for device in self._devices.values():
            await self.sync(device)

    async def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()
