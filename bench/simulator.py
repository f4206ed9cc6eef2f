"""Serve a 10,000-device simulated fleet and measure sustained answers per second, RSS and
the sockets it holds after the run (a pile-up of half-closed connections shows there).

Run: .venv/bin/python bench/simulator.py [--devices 10000] [--minutes 10] [--connections 96]
The simulator runs as ``slawatch-sim run`` in its own process; this process is the load:
lean asyncio clients (pre-built requests, keep-alive) so the client costs little of the
machine's second core. Requests follow the fleet's make-up: ONVIF GetSystemDateAndTime
to cameras, RTSP OPTIONS to camera streams, SNMP v2c GET sysUpTime to switches and
checkpoints. Only valid answers are counted (HTTP 200 SOAP, RTSP 200, SNMP responses).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from ipaddress import IPv4Address
from pathlib import Path

# This file is named like the package it measures: drop bench/ from the import path so
# ``import simulator`` finds the package, not this script.
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).parent]

from pyasn1.codec.ber import encoder
from pysnmp.proto import api

from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.local_servers import free_port
from slawatch.config.inventory import DeviceKind, Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory

SECRETS = {
    "SLAWATCH_CAMERA_PASSWORD": "bench-pass",
    "SLAWATCH_SNMP_COMMUNITY": "bench-community",
    "SLAWATCH_SNMP_AUTH_KEY": "bench-auth-key",
    "SLAWATCH_SNMP_PRIV_KEY": "bench-priv-key",
}
SOAP = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
)
_LENGTH = re.compile(rb"content-length: *(\d+)", re.IGNORECASE)


def fleet_size(devices: int) -> FleetSize:
    """A fleet of about ``devices`` with the district's make-up (at 10,000: 7,680 cameras,
    600 door-access sets of three, 100 checkpoints, 420 switches)."""
    door_sets, checkpoints, switches = devices * 6 // 100, devices // 100, devices * 42 // 1000
    cameras = devices - 3 * door_sets - checkpoints - switches
    return FleetSize(cameras, door_sets, checkpoints, switches)


def snmp_get(community: str) -> bytes:
    """One pre-encoded v2c GET sysUpTime.0 (the request id is irrelevant to the load)."""
    module = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = module.GetRequestPDU()
    module.apiPDU.set_defaults(pdu)
    module.apiPDU.set_varbinds(pdu, [((1, 3, 6, 1, 2, 1, 1, 3, 0), module.Null(""))])
    message = module.Message()
    module.apiMessage.set_defaults(message)
    module.apiMessage.set_community(message, community)
    module.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


class Counter:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0


async def http_client(targets: list[tuple[str, int]], counter: Counter, stop: float) -> None:
    while time.perf_counter() < stop:
        host, port = random.choice(targets)
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            counter.failed += 1
            continue
        request = (
            f"POST /onvif/device_service HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/soap+xml\r\n"
            f"Content-Length: {len(SOAP)}\r\n\r\n"
        ).encode() + SOAP
        try:
            for _ in range(20):  # keep-alive, then move to another camera
                if time.perf_counter() >= stop:
                    break
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _LENGTH.search(head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                if head.startswith(b"HTTP/1.1 200"):
                    counter.ok += 1
                else:
                    counter.failed += 1
        except (OSError, asyncio.IncompleteReadError):
            counter.failed += 1
        finally:
            writer.close()


async def rtsp_client(targets: list[tuple[str, int]], counter: Counter, stop: float) -> None:
    while time.perf_counter() < stop:
        host, port = random.choice(targets)
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            counter.failed += 1
            continue
        try:
            for sequence in range(20):
                if time.perf_counter() >= stop:
                    break
                writer.write(
                    f"OPTIONS rtsp://{host}:{port}/ RTSP/1.0\r\nCSeq: {sequence}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"RTSP/1.0 200"):
                    counter.ok += 1
                else:
                    counter.failed += 1
        except (OSError, asyncio.IncompleteReadError):
            counter.failed += 1
        finally:
            writer.close()


class SnmpLoad(asyncio.DatagramProtocol):
    """Keeps ``window`` GETs in flight over one socket; a reply triggers the next request."""

    def __init__(self, targets: list[tuple[str, int]], request: bytes, counter: Counter) -> None:
        self.targets = targets
        self.request = request
        self.counter = counter
        self.transport: asyncio.DatagramTransport | None = None

    def send(self) -> None:
        assert self.transport is not None
        self.transport.sendto(self.request, random.choice(self.targets))

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        if data[:1] == b"\x30":
            self.counter.ok += 1
        self.send()


async def snmp_clients(
    targets: list[tuple[str, int]], request: bytes, counter: Counter, stop: float
) -> None:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: SnmpLoad(targets, request, counter), local_addr=("127.0.0.1", 0)
    )
    protocol.transport = transport  # connection_made runs on the next loop iteration
    for _ in range(16):
        protocol.send()
    while time.perf_counter() < stop:
        before = counter.ok
        await asyncio.sleep(0.5)
        if counter.ok == before:  # lost datagrams: top the window up again
            for _ in range(16):
                protocol.send()
    transport.close()


def sockets(pid: int) -> int:
    """Sockets the process holds open (listeners included)."""
    folder = Path(f"/proc/{pid}/fd")
    count = 0
    for entry in folder.iterdir():
        try:
            count += os.readlink(entry).startswith("socket:")
        except OSError:
            continue  # closed while we looked
    return count


def close_wait(addresses: set[str]) -> int:
    """TCP connections to the fleet's addresses the peer closed but the simulator did not."""
    wanted = {IPv4Address(address).packed[::-1].hex().upper() for address in addresses}
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1].split(":")[0], fields[3]
        count += state == "08" and local in wanted  # 08: CLOSE_WAIT
    return count


def control_latency_s(control: str) -> float:
    """How long the fault API takes to answer (the load is running)."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://{control}/stats", timeout=30) as answer:  # nosec B310 - loopback
        answer.read()
    return time.perf_counter() - started


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(values["VmRSS"].split()[0]) / 1024, int(values["VmHWM"].split()[0]) / 1024


async def load(
    inventory: Inventory, seconds: float, connections: int, control: str
) -> tuple[dict[str, Counter], list[float]]:
    cameras = [d for d in inventory.devices if d.onvif is not None]
    http_targets = [(d.address, d.onvif.port) for d in cameras if d.onvif is not None]
    rtsp_targets = [(d.address, d.rtsp.port) for d in cameras if d.rtsp is not None]
    snmp_targets = [
        (d.address, d.snmp.port)
        for d in inventory.devices
        if d.snmp is not None and d.snmp.version == "2c" and d.kind is not DeviceKind.CAMERA
    ]
    counters = {"onvif": Counter(), "rtsp": Counter(), "snmp": Counter()}
    stop = time.perf_counter() + seconds
    tasks = [http_client(http_targets, counters["onvif"], stop) for _ in range(connections)]
    tasks += [rtsp_client(rtsp_targets, counters["rtsp"], stop) for _ in range(connections // 4)]
    tasks.append(
        snmp_clients(
            snmp_targets, snmp_get(SECRETS["SLAWATCH_SNMP_COMMUNITY"]), counters["snmp"], stop
        )
    )
    waits: list[float] = []

    async def watch() -> None:
        while time.perf_counter() < stop - 5:
            await asyncio.sleep(5)
            waits.append(await asyncio.to_thread(control_latency_s, control))

    await asyncio.gather(*tasks, watch())
    return counters, waits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000, help="how many devices it serves")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--connections", type=int, default=96)
    args = parser.parse_args()
    seconds = args.minutes * 60
    size = fleet_size(args.devices)
    control = f"127.0.0.1:{free_port()}"  # several runs side by side must not collide
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "inventory.yaml"
        write_inventory(file, inventory_header(size), fleet_devices(size), fleet_sets(size))
        inventory = load_config(file, Inventory)
        addresses = {device.address for device in inventory.devices}
        command = [
            str(Path(sys.executable).with_name("slawatch-sim")),
            "run",
            "--inventory",
            str(file),
            "--control",
            control,
        ]
        started = time.perf_counter()
        simulator = subprocess.Popen(
            command, env={**os.environ, **SECRETS}, stdout=subprocess.PIPE, text=True
        )
        try:
            assert simulator.stdout is not None
            line = simulator.stdout.readline()
            if not line.startswith("serving"):
                raise SystemExit(f"simulator did not start: {line!r}")
            print(
                f"started {size.devices} devices in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            before = sockets(simulator.pid)
            counters, waits = asyncio.run(load(inventory, seconds, args.connections, control))
            rss, peak = rss_mb(simulator.pid)
            time.sleep(2)  # the last clients' connections close
            after, waiting = sockets(simulator.pid), close_wait(addresses)
        finally:
            stopping = time.perf_counter()
            simulator.terminate()
            simulator.wait(120)
            exit_s = time.perf_counter() - stopping
    total = sum(counter.ok for counter in counters.values())
    slowest, typical = max(waits, default=0.0), statistics.median(waits or [0.0])
    for name, counter in counters.items():
        print(f"{name}: {counter.ok / seconds:.0f} answers/s, {counter.failed} failures")
    print(f"simulator RSS {rss:.0f} MB (peak {peak:.0f} MB)")
    print(f"sockets: {before} before the load, {after} after it ({waiting} half-closed)")
    print(
        f"fault API under load: median {typical:.2f} s, slowest {slowest:.2f} s "
        f"({len(waits)} asked); exit on SIGTERM {exit_s:.1f} s"
    )
    print(
        f"BENCH simulator req_per_s={total / seconds:.0f} rss_mb={peak:.0f} "
        f"devices={size.devices} minutes={args.minutes:g} sockets_before={before} "
        f"sockets_after={after} close_wait={waiting} control_p50_s={typical:.2f} "
        f"control_max_s={slowest:.2f} "
        f"sigterm_exit_s={exit_s:.1f}"
    )


if __name__ == "__main__":
    main()
