"""Faults at seeded random moments while the storm flows, and how long the pipeline takes to recover from each.

A kill is SIGKILL (nothing finishes, nothing commits) followed by a start of the same service on the same port;
a PostgreSQL restart stops the server (fast shutdown: every session is cut) and starts it on the same data
directory. Recovery is measured from the moment the part is started again: until its /readyz answers 200, and
until it has applied everything that was on its topic at that moment (its lag back to zero)."""

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from .parts import Parts
from .progress import ProgressProbe

log = logging.getLogger("chaos")
CONSUMERS = ("correlator", "ticketing")


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the storm starts
    target: str  # correlator | ticketing | postgres
    downtime: float  # seconds between the kill (or stop) and the start

    @property
    def what(self) -> str:
        return "restart PostgreSQL" if self.target == "postgres" else f"SIGKILL {self.target}"


@dataclass
class Recovery:
    fault: Fault
    injected_at: float = 0.0  # seconds after the storm started
    backlog: int = 0  # records the part(s) had to apply when they came back
    ready_after: float | None = None
    caught_up_after: float | None = None


def plan(seed: int, duration: float, kills: int = 5, postgres_restarts: int = 1) -> list[Fault]:
    """Kills of each consumer and PostgreSQL restarts, at random moments within the storm's first 90%."""
    rnd = random.Random(seed * 7919 + 17)
    targets = [t for t in CONSUMERS for _ in range(kills)] + ["postgres"] * postgres_restarts
    rnd.shuffle(targets)
    moments = sorted(rnd.uniform(0.05, 0.9) * duration for _ in targets)
    return [
        Fault(at, target, rnd.uniform(2, 5) if target == "postgres" else rnd.uniform(0, 1))
        for at, target in zip(moments, targets, strict=True)
    ]


class Injector:
    """Applies a plan in order. A fault waits until the parts it touches are ready again after the one before,
    so each kill hits a running service (often mid-batch) rather than one still starting."""

    def __init__(self, parts: Parts, probe: ProgressProbe, started: float):
        self._parts, self._probe, self._started = parts, probe, started
        self._watchers: list[asyncio.Task[None]] = []
        self.give_up_after = 900.0  # a part that never catches up is left to the quiescence wait to report

    async def run(self, faults: list[Fault]) -> list[Recovery]:
        recoveries = []
        for fault in faults:
            delay = self._started + fault.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            recoveries.append(await self._inject(fault))
        await asyncio.gather(*self._watchers)
        return recoveries

    async def _inject(self, fault: Fault) -> Recovery:
        recovery = Recovery(fault, injected_at=time.monotonic() - self._started)
        touched = CONSUMERS if fault.target == "postgres" else (fault.target,)
        if fault.target == "postgres":
            await asyncio.to_thread(self._parts.postgres.stop)
            await asyncio.sleep(fault.downtime)
            await asyncio.to_thread(self._parts.postgres.start)
        else:
            self._parts.kill_service(fault.target)
            await asyncio.sleep(fault.downtime)
            self._parts.start_service(fault.target)
        restarted = time.monotonic()
        log.info("%s at %.1fs (down %.1fs), started again", fault.what, recovery.injected_at, fault.downtime)
        at_restart = await self._probe.read_retrying()
        recovery.backlog = sum(at_restart.lag(name) for name in touched)
        for name in touched:
            await self._parts.ready(name)
        recovery.ready_after = time.monotonic() - restarted
        self._watchers.append(asyncio.create_task(self._caught_up(recovery, touched, at_restart.ends, restarted)))
        return recovery

    async def _caught_up(self, recovery: Recovery, touched: tuple[str, ...], ends: dict, restarted: float) -> None:
        while time.monotonic() - restarted < self.give_up_after:
            progress = await self._probe.read_retrying(within=600)
            if sum(progress.lag(name, ends) for name in touched) == 0:
                recovery.caught_up_after = time.monotonic() - restarted
                return
            await asyncio.sleep(0.2)
