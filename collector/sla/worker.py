"""The console's figures from one long-lived process (``slawatch-collector sla-worker``),
which keeps the inventory, the policies and what the report derives from them loaded
between periods. A fresh ``sla`` command pays the interpreter, its imports and the
inventory on every run (about 2 s of CPU at 126,000 devices), more than a day's figures
cost (about 0.5 s); the console asks for a period's figures every minute it is watched.

Protocol, one request at a time on standard input and output: a request is one JSON line
``{"period": "2026-09-30", "with_pending": false}``; its answer is a line ``ok N`` or
``error N`` followed by N bytes: the figures as ``sla --format json --trend`` writes them,
without the ticket list (the console shows none), or what went wrong. The inventory and
policies are read again when one of their files changes; the worker ends at the end of
its input.
"""

from __future__ import annotations

import gc
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import orjson

from collector.ledger.backend import Target
from collector.sla.measure import measured
from collector.sla.period import parse_period
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook

Stamp = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: Stamp
    inventory: Inventory
    policies: PolicyBook


def _stamp(paths: Sequence[Path]) -> Stamp:
    """Every file the figures are read from, with its modification time and size."""
    files = []
    for path in paths:
        for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
            found = file.stat()
            files.append((str(file), found.st_mtime_ns, found.st_size))
    return tuple(files)


def _load(inventory: Path, policies: Sequence[Path], stamp: Stamp) -> _Loaded:
    loaded = _Loaded(stamp, load_config(inventory, Inventory), PolicyBook.load(policies))
    # Millions of long-lived objects: out of the cyclic collector's passes from now on.
    gc.collect()
    gc.freeze()
    return loaded


def figures(
    ledger: Target, inventory_file: Path, loaded: _Loaded, period: str, with_pending: bool
) -> bytes:
    """One period's figures, as the answer carries them."""
    asked = parse_period(period, ZoneInfo(loaded.policies.default.timezone))
    with measured(
        ledger,
        loaded.policies,
        asked,
        lambda: loaded.inventory,
        inventory_file,
        with_pending,
        overlap=False,
    ) as measurement:
        built = measurement.report.figures(("contract",), trend=True)
    del built["tickets"]  # read from the block's scratch file, and not shown
    return orjson.dumps(built)


def serve(
    ledger: Target,
    inventory: Path,
    policies: Sequence[Path],
    requests: BinaryIO,
    answers: BinaryIO,
) -> None:
    """Answer each request line of ``requests`` on ``answers`` until the input ends."""
    loaded: _Loaded | None = None
    for line in requests:
        try:
            stamp = _stamp([inventory, *policies])
            if loaded is None or loaded.stamp != stamp:
                loaded = None
                gc.unfreeze()
                loaded = _load(inventory, policies, stamp)
            request = orjson.loads(line)
            kind = b"ok"
            body = figures(
                ledger, inventory, loaded, str(request["period"]), bool(request["with_pending"])
            )
        # Whatever one period's figures hit (a bad period or inventory, a ledger out of
        # reach), the answer says it and the next period is asked all the same.
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()  # to the collector's log: the console shows the message
            kind, body = b"error", (str(exc) or type(exc).__name__).encode()
        answers.write(b"%s %d\n" % (kind, len(body)))
        answers.write(body)
        answers.flush()
