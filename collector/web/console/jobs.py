"""Work the console starts and the browser waits for: SLA figures and evidence exports,
in child processes (the collector's loop keeps ingesting; the SLA engine forks its own
workers, which a process serving the loop must not do in-line). Figures come from one
long-lived child that keeps the inventory loaded (collector/sla/worker.py); each export
is a child of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from collector.ledger.backend import child_environment

if TYPE_CHECKING:
    from collector.service import Collector

log = logging.getLogger(__name__)

FIGURES_FRESH_S = 60.0
# Any reader may ask for any period's figures, and each is a child process: at most this
# many run at once (exports included), at most this many periods wait for one, and this
# many periods' figures are kept. A page asked beyond that says "computing" and asks
# again in two seconds.
CHILDREN = 2
WAITING = 8
KEPT = 64
# Exports unfinished at once (each also a bundle on the ledger's disk): one more is refused.
EXPORTS_WAITING = 4


def _policy_arguments(collector: Collector) -> list[str]:
    settings = collector.settings
    paths = [settings.policy, *settings.contract_policies]
    return [argument for path in paths for argument in ("--policy", str(path))]


@dataclass
class Figures:
    """A period's figures (the sla command's JSON, with the daily trend), kept a minute."""

    computed: float = 0.0
    result: dict[str, Any] | None = None
    error: str | None = None
    running: asyncio.Task[None] | None = None


@dataclass
class Export:
    id: str
    period: str
    language: str
    by: str
    out: Path
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str | None = None

    @property
    def seconds(self) -> int:
        return int((self.finished or time.monotonic()) - self.started)


class Jobs:
    def __init__(self, collector: Collector) -> None:
        self._collector = collector
        self._figures: dict[str, Figures] = {}
        self.exports: dict[str, Export] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._children: set[asyncio.subprocess.Process] = set()
        self._slots = asyncio.Semaphore(CHILDREN)
        self._closed = False
        self._worker: asyncio.subprocess.Process | None = None
        self._worker_command: list[str] = []
        self._worker_turn = asyncio.Lock()  # one period at a time

    async def close(self) -> None:
        """The console stops: no child computation outlives it, and none waiting for a
        slot starts. Each child leads a process group of its own, killed whole: the SLA
        engine's forked workers would otherwise outlive it, holding its pipes open, and
        the wait for it would never end."""
        self._closed = True
        for child in [*self._children, *([self._worker] if self._worker else [])]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), 10)

    async def _run(self, command: list[str], keep_out: bool) -> tuple[int, bytes, bytes]:
        """Run a child to its end (or the console's): exit code, standard output, error."""
        out = asyncio.subprocess.PIPE if keep_out else asyncio.subprocess.DEVNULL
        async with self._slots:
            if self._closed:
                return 1, b"", b"the console stopped"
            child = await asyncio.create_subprocess_exec(
                *command, stdout=out, stderr=asyncio.subprocess.PIPE, start_new_session=True,
                env=child_environment(self._collector.ledger.where),
            )  # fmt: skip
            self._children.add(child)
            try:
                found, err = await child.communicate()
            finally:
                self._children.discard(child)
        return child.returncode or 0, found or b"", err

    def figures(self, period: str, with_pending: bool = False) -> Figures:
        """The period's figures as last computed (``with_pending``: as they would be if the
        bureau approved every pending request); a refresh starts when they are stale."""
        key = f"{period}{'+pending' if with_pending else ''}"
        if key not in self._figures and len(self._figures) >= KEPT:
            idle = [k for k, f in self._figures.items() if f.running is None or f.running.done()]
            if idle:
                del self._figures[min(idle, key=lambda k: self._figures[k].computed)]
        found = self._figures.setdefault(key, Figures())
        stale = time.monotonic() - found.computed > FIGURES_FRESH_S
        busy = sum(1 for f in self._figures.values() if f.running and not f.running.done())
        if stale and (found.running is None or found.running.done()) and busy < WAITING:
            found.running = asyncio.create_task(self._compute(period, found, with_pending))
        return found

    def outdated(self) -> None:
        """What the figures depend on changed (a window requested or decided): every
        period is computed afresh at its next look."""
        for found in self._figures.values():
            found.computed = 0.0

    async def _compute(self, period: str, into: Figures, with_pending: bool) -> None:
        settings = self._collector.settings
        command = [
            sys.executable, "-m", "collector.cli", "sla-worker",
            "--ledger", str(self._collector.ledger.where), "--inventory", str(settings.inventory),
            *_policy_arguments(self._collector),
        ]  # fmt: skip
        request = orjson.dumps({"period": period, "with_pending": with_pending}) + b"\n"
        async with self._worker_turn, self._slots:
            if self._closed:
                into.error = "the console stopped"
                return
            kind, body = await self._ask(command, request)
        into.computed = time.monotonic()
        if kind == b"ok":
            into.result, into.error = orjson.loads(body), None
        else:
            # The page says the figures failed, in the reader's language; what failed is
            # the worker's (an exception's text, in English) and goes to the log.
            into.error = body.decode(errors="replace").strip() or "the figures worker failed"
            log.warning("the figures for %s were not computed: %s", period, into.error)

    async def _ask(self, command: list[str], request: bytes) -> tuple[bytes, bytes]:
        """The worker's answer to ``request``; the worker is started (again) when it is not
        running or the settings it was started with changed."""
        worker = self._worker
        if worker is None or worker.returncode is not None or command != self._worker_command:
            await self._stop_worker()
            worker = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                start_new_session=True, env=child_environment(self._collector.ledger.where),
            )  # fmt: skip
            self._worker, self._worker_command = worker, command
        assert worker.stdin is not None
        assert worker.stdout is not None
        try:
            worker.stdin.write(request)
            await worker.stdin.drain()
            kind, size = (await worker.stdout.readline()).split()
            return kind, await worker.stdout.readexactly(int(size))
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            # It died (its error went to the collector's log): the next request starts one.
            await self._stop_worker()
            return b"error", b"the figures worker stopped"

    async def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.wait(), 10)

    @property
    def exports_busy(self) -> bool:
        """Whether as many exports as may wait are unfinished (a new one must wait)."""
        return sum(1 for job in self.exports.values() if job.finished is None) >= EXPORTS_WAITING

    def export(self, period: str, language: str, by: str) -> Export:
        job_id = secrets.token_hex(6)
        folder = self._collector.settings.beside_ledger / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        job = Export(job_id, period, language, by, folder / f"slawatch-{period}-{job_id}.zip")
        self.exports[job_id] = job
        task = asyncio.create_task(self._export(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _export(self, job: Export) -> None:
        settings = self._collector.settings
        command = [
            sys.executable, "-m", "collector.cli", "evidence", "export",
            "--ledger", str(self._collector.ledger.where), "--inventory", str(settings.inventory),
            *_policy_arguments(self._collector), "--period", job.period,
            "--out", str(job.out), "--lang", job.language,
        ]  # fmt: skip
        if settings.signing is not None:
            command += ["--sign", str(settings.signing.key)]
        code, _, err = await self._run(command, keep_out=False)
        job.finished = time.monotonic()
        if code != 0:
            job.error = err.decode(errors="replace").strip()[-500:] or f"exit {code}"


def default_period(kind: str, zone_today: str) -> str:
    """The period a picker's kind means today: this day, month or quarter."""
    year, month, _ = zone_today.split("-")
    if kind == "month":
        return f"{year}-{month}"
    if kind == "quarter":
        return f"{year}-Q{(int(month) - 1) // 3 + 1}"
    return zone_today
