"""A validated inventory kept under the digest of its file, so the next process skips the work.

Every ``sla`` run, evidence export and console report is a fresh process, and validating a
126,000-device inventory costs it ~5 s of CPU (pydantic's row checks, then the address and
reference checks of ``cross_check``) for the same answer as last time. The cache holds that
answer keyed by the file's bytes, its folder (secret file paths are anchored to it) and
the code that judged it (every module of this package and the pydantic versions): any
change to either misses, so what is loaded from the cache is exactly what validation
would give. Only a valid inventory is stored; an invalid one is validated (and reported
with its file:line) every time.

The rows go column by column and come back through their slots' descriptors from C
(``map``): a slotted frozen dataclass otherwise unpickles through a Python
``__setstate__`` per object, as slow as validating it (measured: 5.1 s against 0.6 s for
126,000 devices). The cache is a private folder (0700) of the user; one that another user
could write to is not read, since unpickling runs what the file says.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle  # nosec B403  # the user's own private cache folder only (see _private)
import stat
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from importlib.metadata import version
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

from slawatch.config.inventory import (
    Device,
    DoorAccessSet,
    Inventory,
    OnvifSettings,
    RtspSettings,
    SnmpSettings,
    TcpSettings,
    Uplink,
)

_FORMAT = b"slawatch-inventory-cache 1"
_ROW_CLASSES: tuple[type, ...] = (
    Device,
    DoorAccessSet,
    OnvifSettings,
    SnmpSettings,
    RtspSettings,
    TcpSettings,
    Uplink,
)
_KEEP = 8  # entries kept (newest first): one per inventory in use, and a few past versions


def cache_folder() -> Path:
    """``$SLAWATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/slawatch``, else ``~/.cache/slawatch``."""
    explicit = os.environ.get("SLAWATCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slawatch"


def cached_inventory(file: Path, validate: Callable[[], Inventory]) -> Inventory:
    """The inventory in ``file``: from the cache when this code validated these bytes
    before, else ``validate()`` (whose errors pass through), then stored."""
    try:
        content = file.read_bytes()
        folder = cache_folder() / "inventory"
    except (OSError, RuntimeError):  # unreadable (validation names it), or no home folder
        return validate()
    entry = folder / f"{_key(file, content)}.pickle"
    found = _read(entry)
    if found is not None:
        return found
    inventory = validate()
    _write(folder, entry, inventory)
    return inventory


def _key(file: Path, content: bytes) -> str:
    digest = hashlib.sha256(_FORMAT)
    for package in ("pydantic", "pydantic-core"):
        digest.update(version(package).encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.read_bytes())
    digest.update(str(file.resolve().parent).encode())
    digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def _private(path: Path) -> bool:
    """Ours and writable by no one else: only such a file is unpickled."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(entry: Path) -> Inventory | None:
    if not (_private(entry.parent) and _private(entry)):
        return None
    try:
        payload = pickle.loads(entry.read_bytes())  # nosec B301  # noqa: S301 - see _private
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        return None  # damaged or from other code: validate again and replace it
    if not (isinstance(payload, tuple) and payload[:1] == (_FORMAT,)):
        return None
    _, fields_set, values, rows = payload
    collecting = gc.isenabled()
    gc.disable()  # its passes over the new rows would double the time and free nothing
    try:
        values.update({name: _rebuild(columns) for name, columns in rows.items()})
    finally:
        if collecting:
            gc.enable()
    inventory = Inventory.model_construct(fields_set, **values)
    # Recently used: kept by the pruning below. Another process may have pruned it since
    # it was read (an agent died at start on that: a FileNotFoundError here); what was
    # read stands.
    with contextlib.suppress(OSError):
        os.utime(entry)
    return inventory


def _write(folder: Path, entry: Path, inventory: Inventory) -> None:
    """Store it for the next process; a folder that cannot hold it costs only the speed."""
    values = dict(inventory.__dict__)
    rows = {name: _columns(values.pop(name)) for name in ("devices", "sets")}
    payload = (_FORMAT, inventory.model_fields_set, values, rows)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as out:
            pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(out.name, entry)
        for old in sorted(folder.glob("*.pickle"), key=_age)[_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        return


def _age(path: Path) -> float:
    try:
        return -path.stat().st_mtime
    except OSError:
        return 0.0


# A column is ("values", [...]) or, when it holds rows (a device's onvif settings), the
# positions that hold one and those rows' own columns: ("rows", length, positions, table).
Table = tuple[type, int, list[Any]]


def _columns(rows: list[Any]) -> Table | None:
    """The rows of one class as one list per field; None for no rows."""
    if not rows:
        return None
    cls = type(rows[0])
    names = [field.name for field in fields(cls)]
    if cls not in _ROW_CLASSES or any(type(row) is not cls for row in rows):
        raise TypeError(f"not one row class: {cls.__name__}")
    return cls, len(rows), [_column(list(map(attrgetter(name), rows))) for name in names]


def _column(values: list[Any]) -> tuple[Any, ...]:
    positions = [at for at, value in enumerate(values) if _is_row(value)]
    if not positions:
        return ("values", values)
    nested = [values[at] for at in positions]
    if (
        len(positions) != sum(value is not None for value in values)
        or len({type(value) for value in nested}) > 1
    ):
        return ("values", values)  # mixed: plain pickling handles it, only slower
    return ("rows", len(values), positions, _columns(nested))


def _is_row(value: Any) -> bool:
    return is_dataclass(value) and type(value) in _ROW_CLASSES


def _rebuild(table: Table | None) -> list[Any]:
    if table is None:
        return []
    cls, count, columns = table
    rows: list[Any] = list(map(object.__new__, repeat(cls, count)))
    for field, column in zip(fields(cls), columns, strict=True):
        setter = cls.__dict__[field.name].__set__  # the slot, past the frozen __setattr__
        deque(map(setter, rows, _values(column)), maxlen=0)
    return rows


def _values(column: tuple[Any, ...]) -> list[Any]:
    if column[0] == "values":
        values: list[Any] = column[1]
        return values
    _, count, positions, table = column
    out: list[Any] = [None] * count
    for at, row in zip(positions, _rebuild(table), strict=True):
        out[at] = row
    return out
