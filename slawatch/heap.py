"""The cyclic garbage collector's settings for a process that holds a large inventory."""

from __future__ import annotations

import gc

# Collect the youngest generation every 100,000 allocations instead of 700: a status
# allocates dozens of short-lived objects that reference counting frees on its own.
YOUNG_THRESHOLD = 100_000


def settle() -> None:
    """Call once start-up is done: what was loaded so far (inventory, policy, profiles:
    hundreds of thousands of objects living as long as the process) leaves the collector's
    passes, and passes run less often.

    Measured on a replay of 1,000,000 observations over 20,000 devices: 22.7 s with
    Python's defaults, 16.5 s after this; with the collector off altogether, 16.3 s. Cycles
    (rare here) are still collected.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD)
