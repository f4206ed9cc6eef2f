"""``slawatch-collector``: the central collector's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from collector.inventory_import import import_ledger
from slawatch.config.check import EXIT_INVALID, EXIT_OK, check_files
from slawatch.config.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-collector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-config",
        help="validate collector settings, inventories and policies (no network)",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")

    inventory = commands.add_parser("inventory", help="inventory tools")
    inventory_commands = inventory.add_subparsers(dest="inventory_command", required=True)
    importer = inventory_commands.add_parser(
        "import", help="turn a device ledger (设备台账, CSV or XLSX) into an inventory"
    )
    importer.add_argument("ledger", type=Path, metavar="FILE")
    importer.add_argument("--map", type=Path, required=True, help="column map (YAML)")
    importer.add_argument("-o", "--output", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_files(args.files, {"collector", "inventory", "policy"})
    if args.command == "inventory":
        try:
            count = import_ledger(args.ledger, args.map, args.output)
        except ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return EXIT_INVALID
        print(f"{args.output}: {count} devices written")
        return EXIT_OK
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
