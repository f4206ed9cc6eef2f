"""``slawatch-sim``: generate and serve simulated device fleets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from slawatch.config.writer import write_inventory


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-sim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fleet = commands.add_parser("fleet", help="write an inventory of simulated devices")
    fleet.add_argument("--cameras", type=int, default=100)
    fleet.add_argument("--door-sets", type=int, default=10)
    fleet.add_argument("--checkpoints", type=int, default=5)
    fleet.add_argument("--switches", type=int, default=8)
    fleet.add_argument("--site", default="sim")
    fleet.add_argument("--out", type=Path, required=True, help="folder for inventory.yaml")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
            inventory_header(size, args.site),
            fleet_devices(size, args.site),
            fleet_sets(size),
        )
        print(f"{file}: {size.devices} devices")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
