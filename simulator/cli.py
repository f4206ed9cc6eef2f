"""``slawatch-sim``: generate and serve simulated device fleets."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from simulator.control import control_app
from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import Fleet
from simulator.scenario import load_scenario, play
from simulator.ws_discovery import serve_discovery
from slawatch import heap
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.writer import write_inventory

# How long a stop may take to close connections before the process just ends.
STOP_GRACE_S = 3.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-sim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fleet = commands.add_parser("fleet", help="write an inventory of simulated devices")
    fleet.add_argument("--cameras", type=int, default=100)
    fleet.add_argument("--door-sets", type=int, default=10)
    fleet.add_argument("--checkpoints", type=int, default=5)
    fleet.add_argument("--switches", type=int, default=8)
    fleet.add_argument("--site", default="sim")
    fleet.add_argument(
        "--agent", action="append", default=[], help="an edge agent registered for the site"
    )
    fleet.add_argument(
        "--agent-key",
        action="append",
        default=[],
        metavar="AGENT=KEY",
        help="an agent's public key (as `slawatch-agent keys new` prints it)",
    )
    fleet.add_argument("--out", type=Path, required=True, help="folder for inventory.yaml")

    past = commands.add_parser(
        "history", help="write a fleet's past (outages, tickets) into a new ledger, up to now"
    )
    past.add_argument("--inventory", type=Path, required=True)
    past.add_argument(
        "--policy", type=Path, action="append", required=True, help="as for the collector"
    )
    past.add_argument("--days", type=int, default=90)
    past.add_argument("--ledger", type=Path, required=True, help="the new ledger to write")

    run = commands.add_parser("run", help="serve an inventory's devices over ONVIF, RTSP and SNMP")
    run.add_argument("--inventory", type=Path, required=True)
    run.add_argument("--control", default="127.0.0.1:9900", help="HOST:PORT of the fault API")
    run.add_argument("--scenario", type=Path, help="YAML fault timeline to play")
    run.add_argument("--speed", type=float, default=1.0, help="play the scenario N times faster")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    inventory = load_config(args.inventory, Inventory)
    steps = load_scenario(args.scenario) if args.scenario else []
    fleet = Fleet(inventory)
    await fleet.start()
    host, _, port = args.control.rpartition(":")
    runner = web.AppRunner(control_app(fleet), shutdown_timeout=1.0)  # a stop is prompt
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    try:
        discovery, _ = await serve_discovery(lambda: fleet.devices)
    except OSError as exc:  # another responder has the port: the rest still serves
        logging.getLogger(__name__).warning("no WS-Discovery: %s", exc)
        discovery = None
    heap.settle()
    print(f"serving {len(fleet.devices)} devices; fault API on http://{args.control}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping(number: int, frame: object) -> None:
        """A Python-level handler, not the loop's: it runs at once, between callbacks, even
        when the loop has a turn of thousands of requests ahead of the stop (a stop on a
        busy machine took minutes). The graceful stop gets STOP_GRACE_S, then the process
        ends anyway: a simulator keeps nothing that needs saving."""
        fleet.stopping()
        loop.call_soon_threadsafe(stop.set)
        deadline = threading.Timer(STOP_GRACE_S, os._exit, (0,))
        deadline.daemon = True
        deadline.start()

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, stopping)
    player = asyncio.create_task(play(fleet, steps, args.speed), name="scenario")
    await stop.wait()
    player.cancel()
    if discovery is not None:
        discovery.close()
    await fleet.close()  # the devices stop first: they are the load
    await runner.cleanup()


def _history(args: argparse.Namespace) -> int:
    try:
        from simulator.history import write_history
    except ModuleNotFoundError as exc:  # the sim extra alone: the ledger is the collector's
        print(f"slawatch-sim history writes a collector's ledger: {exc}", file=sys.stderr)
        print(
            "install the collector's extra too: pip install 'slawatch[sim,collector]'",
            file=sys.stderr,
        )
        return 2

    inventory = load_config(args.inventory, Inventory)
    policies = PolicyBook.load(args.policy)
    try:
        changes, tickets = write_history(
            inventory, policies, args.ledger, args.days, datetime.now(UTC)
        )
    except FileExistsError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.ledger}: {args.days} days, {changes} state changes, {tickets} tickets")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "history":
        return _history(args)
    if args.command == "fleet":
        size = FleetSize(args.cameras, args.door_sets, args.checkpoints, args.switches)
        if size.switches == 0 and (size.cameras or size.door_sets):
            print(
                "cameras and door sets hang off switches: give --switches 1 or more",
                file=sys.stderr,
            )
            return 2
        args.out.mkdir(parents=True, exist_ok=True)
        file = args.out / "inventory.yaml"
        write_inventory(
            file,
            inventory_header(
                size, args.site, args.agent, dict(k.split("=", 1) for k in args.agent_key)
            ),
            fleet_devices(size, args.site),
            fleet_sets(size),
        )
        print(f"{file}: {size.devices} devices")
        return 0
    if args.command == "run":
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
        try:
            asyncio.run(_serve(args))
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        except LookupError as exc:  # a secret reference that cannot be read
            print(f"slawatch-sim: {exc}", file=sys.stderr)
            return 2
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
