"""The in-memory Snapshot (CMDB, binding rules, known errors, windows), rebuilt when the reference data
changes: NOTIFY correlator_config wakes every instance at once; the cmdb_version row, checked once per
consumed batch and on a timer, catches a missed notification. Never queried per alert."""

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

import asyncpg

from . import metrics, store
from .binding import MatchRules
from .cmdb import Cmdb
from .correlation import ExpiryPolicy, Snapshot
from .dedup import DEFAULT_REOPEN_WINDOW
from .flapping import FlapPolicy
from .grouping import GroupingPolicy
from .known_errors import KnownErrorCatalog
from .windows import WindowIndex

log = logging.getLogger(__name__)


class SnapshotCache:
    def __init__(
        self,
        rules: MatchRules,
        grouping: GroupingPolicy,
        flap: FlapPolicy,
        expiry: ExpiryPolicy,
        poll_seconds: float = 10.0,
        reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
        repeat_interval: timedelta = timedelta(0),
    ):
        self._policies = {
            "rules": rules,
            "grouping": grouping,
            "flap": flap,
            "expiry": expiry,
            "reopen_window": reopen_window,
            "repeat_interval": repeat_interval,
        }
        self._poll_seconds = poll_seconds
        self.current = Snapshot(
            -1, Cmdb.build((), ()), catalog=KnownErrorCatalog(()), windows=WindowIndex({}), **self._policies
        )
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False

    async def at_least(self, pool: asyncpg.Pool, version: int) -> Snapshot:
        """The snapshot, rebuilt first if it is older than `version`."""
        if self.current.version >= version:
            return self.current
        async with self._lock:
            if self.current.version < version:
                await self._rebuild(pool)
        return self.current

    async def fresh(self, pool: asyncpg.Pool) -> Snapshot:
        return await self.at_least(pool, await store.cmdb_version(pool))

    async def _rebuild(self, pool: asyncpg.Pool) -> None:
        started = time.perf_counter()
        async with pool.acquire() as conn:
            version, cmdb, catalog, known, windows = await store.load_reference(conn)
        self.current = Snapshot(version, cmdb, catalog=catalog, windows=windows, known_errors=known, **self._policies)
        metrics.SNAPSHOT_VERSION.set(version)
        metrics.SNAPSHOT_CIS.set(len(cmdb))
        log.info(
            "reference snapshot v%d: %d CIs, %d known errors in %.2fs",
            version,
            len(cmdb),
            len(catalog),
            time.perf_counter() - started,
        )

    async def follow(self, pool: asyncpg.Pool, database_url: str) -> None:
        """Keep the snapshot current until stopped: LISTEN, plus a periodic version check as a fallback."""
        listener: asyncpg.Connection | None = None
        while not self._stopping:
            try:
                if listener is None or listener.is_closed():
                    listener = await asyncpg.connect(database_url)
                    await listener.add_listener(store.CONFIG_CHANNEL, lambda *_: self._wake.set())
                await self.fresh(pool)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("reference snapshot not refreshed: %r", exc)
                listener = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
        if listener is not None:
            await listener.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
