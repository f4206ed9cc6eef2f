"""``slawatch-agent``: the edge agent's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from slawatch.config.check import check_files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-config", help="validate agent settings and the inventory they name (no network)"
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_files(args.files, {"agent", "inventory"})
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
