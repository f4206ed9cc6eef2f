"""What a report derives from its inputs alone (an inventory, a policy), kept while those
objects live: a process that holds its inventory (the console's figures worker, an export
measuring a period again per exemption) works out each device's service span, windows,
group and price once, not once per period asked. 126,000 devices cost about a second of
such per-device Python each time otherwise.

Keyed by the objects' identity, not their value: the inputs are frozen, and hashing a
126,000-device inventory would cost what the memo saves. An entry goes when one of its
objects does (a weak reference each), so an inventory reloaded after a change is worked
out afresh and the old one's derivations are freed with it."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Hashable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


def per_input(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` computed once per combination of its arguments: those that take a weak
    reference by identity; a list by identity too, held by the entry; the others (a
    grouping, a unit) by value. At least one argument must take a weak reference (the
    entry goes with it), and the result must not refer to those, or they would never be
    freed."""
    found: dict[tuple[Hashable, ...], tuple[list[object], _R]] = {}

    @functools.wraps(function)
    def kept(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        values = (*args, *kwargs.values())
        weak = [_weak(value) for value in values]
        whole = tuple(
            (id(value),) if weak[n] or isinstance(value, list) else value
            for n, value in enumerate(values)
        )
        if whole in found:
            return found[whole][1]
        result = function(*args, **kwargs)

        def forget(_: weakref.ref[object]) -> None:
            found.pop(whole, None)

        # The callback fires when an argument is freed, before its id can be reused.
        held = [weakref.ref(v, forget) if weak[n] else v for n, v in enumerate(values)]
        found[whole] = (held, result)
        return result

    return kept


def _weak(value: object) -> bool:
    try:
        weakref.ref(value)
    except TypeError:
        return False
    return True
