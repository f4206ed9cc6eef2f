"""``slawatch-collector``: the central collector's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from collector.inventory_import import import_ledger
from collector.ledger import Ledger, LedgerCorruptError
from collector.replay import ReplayInputError, observations_from, read_acks, replay
from slawatch.config.check import EXIT_INVALID, EXIT_OK, check_files
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policy import Policy

EXIT_CORRUPT = 3


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

    again = commands.add_parser(
        "replay", help="run recorded observations (JSONL) through the pipeline into a ledger"
    )
    again.add_argument("--inventory", type=Path, required=True)
    again.add_argument("--policy", type=Path, required=True)
    again.add_argument("--observations", type=Path, required=True, help="JSONL of statuses")
    again.add_argument("--acks", type=Path, help="JSONL of acknowledgements")
    again.add_argument("--ledger", type=Path, required=True, help="SQLite ledger to write")

    ledger = commands.add_parser("ledger", help="ledger tools")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser("verify", help="check the ledger's hash chain")
    verify.add_argument("path", type=Path, metavar="LEDGER")
    return parser


def _replay(args: argparse.Namespace) -> int:
    if args.ledger.exists():
        print(f"{args.ledger}: exists; replay writes a new ledger", file=sys.stderr)
        return EXIT_INVALID
    try:
        inventory = load_config(args.inventory, Inventory)
        policy = load_config(args.policy, Policy)
        acks = read_acks(args.acks) if args.acks else []
        ledger = Ledger(args.ledger)
        summary = replay(inventory, policy, observations_from(args.observations), acks, ledger)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except ReplayInputError as exc:
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_INVALID
    ledger.close()
    print(
        f"{summary.observations} observations, {summary.changes} state changes, "
        f"{summary.tickets} tickets, {summary.unmatched_acks} acks matched no ticket; "
        f"{args.ledger}: {summary.ledger_rows} rows, chain verified"
    )
    return EXIT_OK


def _verify(path: Path) -> int:
    if not path.exists():
        print(f"{path}: no such ledger", file=sys.stderr)
        return EXIT_INVALID
    ledger = Ledger(path)
    try:
        rows = ledger.verify()
    except LedgerCorruptError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_CORRUPT
    finally:
        ledger.close()
    print(f"{path}: {rows} rows, chain intact, head {ledger.head}")
    return EXIT_OK


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
    if args.command == "replay":
        return _replay(args)
    if args.command == "ledger":
        return _verify(args.path)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
