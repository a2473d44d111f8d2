"""The SLA timer: incidents whose next SLA threshold has come (an indexed query, never a scan of every
incident) get their warnings, breaches and escalations; resolved incidents past the auto-close delay close."""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from . import recording, store
from .actions import Request, act
from .clocks import SlaRules, tick
from .events import NO_CAUSE, Cause
from .incident import Change, versioned
from .lifecycle import Action

log = logging.getLogger(__name__)
BATCH = 500


class SlaTimer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        rules: SlaRules,
        outbox_ready: asyncio.Event,
        interval: float = 5.0,
        auto_close_after: timedelta = timedelta(days=3),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._pool, self._rules, self._outbox_ready = pool, rules, outbox_ready
        self._interval, self._auto_close_after, self._clock = interval, auto_close_after, clock
        self._stopping = asyncio.Event()
        self.failing: str | None = None

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                while await self.pass_once() >= BATCH:
                    pass
                self.failing = None
            except (asyncpg.PostgresError, OSError) as exc:  # the database is away: next pass tries again
                self.failing = f"{type(exc).__name__}: {exc}"
                log.warning("SLA timer pass failed: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def pass_once(self) -> int:
        """One pass: returns how many incidents it looked at (BATCH means there may be more)."""
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            due = await store.load_sla_due(conn, now, BATCH)
            changes: list[tuple[Change, Cause]] = [(versioned(tick(Change(i, i, ()), now, self._rules)), NO_CAUSE)
                                                   for i in due]  # fmt: skip
            seen = {i.id for i in due}
            for i in await store.load_to_close(conn, now - self._auto_close_after, BATCH):
                if i.id not in seen:
                    note = "closed automatically after the resolution was not disputed"
                    change = act(i, Request(Action.CLOSE, "triage", now, note=note))
                    changes.append((versioned(tick(change, now, self._rules)), NO_CAUSE))
            await recording.record(conn, changes, self._rules)
        if any(c.events for c, _ in changes):
            self._outbox_ready.set()
        return len(changes)

    def stop(self) -> None:
        self._stopping.set()
