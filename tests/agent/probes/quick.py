"""Run a probe the scheduler's way without a task (``QuickProbe.start``), for tests that
hold that path to the verdicts of ``probe``."""

from __future__ import annotations

import asyncio

from agent.probes.base import Finish, ProbeResult, QuickProbe, Target


async def started(probe: QuickProbe, target: Target, *, must_start: bool = False) -> ProbeResult:
    """What ``start`` hands ``done``: the result, or the rest of the check, run; where
    ``start`` declines (as the scheduler would then do), ``probe``'s own result."""
    finished: asyncio.Future[Finish] = asyncio.get_running_loop().create_future()
    if not probe.start(target, finished.set_result):
        assert not must_start, "declined to start without a task"
        return await probe.probe(target, deep=False)
    finish = await asyncio.wait_for(finished, 30)
    if isinstance(finish, Exception):
        raise finish
    if isinstance(finish, ProbeResult):
        return finish
    return await asyncio.wait_for(finish, 30)
