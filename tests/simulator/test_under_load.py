"""On a busy machine the simulator falls behind; it must not pile up connections whose
clients gave up, its fault API must keep answering, and SIGTERM must stop it at once.

"Busy" is made real: the simulator process is stopped (SIGSTOP) while probes connect,
send their request and give up, exactly what an agent's timeouts do to a starved server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import urllib.request
from ipaddress import IPv4Address
from pathlib import Path

from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.local_servers import free_port
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests.conftest import wait_for

SIZE = FleetSize(cameras=120, door_sets=4, checkpoints=2, switches=8)
SOAP = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
)


def half_closed(addresses: set[str]) -> int:
    """TCP connections to these addresses the client closed and the server did not."""
    wanted = {IPv4Address(address).packed[::-1].hex().upper() for address in addresses}
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for line in lines if line.split()[3] == "08" and line.split()[1][:8] in wanted
    )  # 08: CLOSE_WAIT


async def give_up(host: str, port: int, after_s: float) -> None:
    """One probe that sends its request and hangs up after ``after_s``, answered or not."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, TimeoutError):
        return
    request = b"POST /onvif/device_service HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
    writer.write(request % (host.encode(), len(SOAP)) + SOAP)
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(reader.read(100), after_s)
    writer.close()


def control_answers(control: str) -> int:
    """The control API's answer; one that stopped answering (as under the pile-up before)
    fails by the timeout, not by a stopwatch."""
    with urllib.request.urlopen(f"http://{control}/stats", timeout=5) as answer:  # nosec B310 - loopback
        return int(answer.status)


def post_fault(control: str, target: str) -> None:
    body = f'{{"target": "{target}", "fault": "down", "mode": "silent"}}'.encode()
    asked = urllib.request.Request(
        f"http://{control}/faults", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(asked, timeout=10) as answer:  # nosec B310 - loopback
        assert answer.status == 200


async def test_a_starved_simulator_drops_gone_clients_answers_and_stops_at_once(
    tmp_path: Path, secrets_in_env: None
) -> None:
    file = tmp_path / "inventory.yaml"
    write_inventory(file, inventory_header(SIZE), fleet_devices(SIZE), fleet_sets(SIZE))
    inventory = load_config(file, Inventory)
    cameras = [(d.address, d.onvif.port) for d in inventory.devices if d.onvif is not None]
    addresses = {address for address, _ in cameras}
    control = f"127.0.0.1:{free_port()}"
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("slawatch-sim")),
        "run",
        "--inventory",
        str(file),
        "--control",
        control,
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 60)).startswith(b"serving")
        process.send_signal(signal.SIGSTOP)
        for _ in range(3):
            await asyncio.gather(*(give_up(host, port, 0.2) for host, port in cameras))
        stopped_with = half_closed(addresses)
        assert stopped_with > 0  # the kernel queued the gone clients' connections
        process.send_signal(signal.SIGCONT)
        await wait_for(lambda: half_closed(addresses) == 0, 5.0)  # gone clients' sockets freed
        assert await asyncio.to_thread(control_answers, control) == 200

        # Half the cameras go silent; probes keep coming and giving up while SIGTERM lands.
        await asyncio.to_thread(post_fault, control, "link:L0001")
        storm = asyncio.gather(*(give_up(h, p, 0.5) for h, p in cameras * 3))
        await asyncio.sleep(0.3)
        process.terminate()
        # It took 60-127 s before: a prompt exit is one inside this wait.
        assert await asyncio.wait_for(process.wait(), 10) == 0
        await storm
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            await process.wait()
