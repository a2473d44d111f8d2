"""The correlator process: the alerts.normalized consumer, the reference-snapshot follower, the expiry and
heartbeat sweep, the admin API (CMDB, known errors, changes, windows), health, readiness and metrics."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.shared import kafka
from services.shared.api import bearer_auth, install_error_handlers, install_health, openapi_bearer
from services.shared.auth import TokenRegistry
from services.shared.consuming import StatefulService

from . import catalog_api, cmdb_api
from .pipeline import SWEEP_LIMIT, Correlation, sweep
from .settings import CorrelatorSettings
from .snapshots import SnapshotCache

SCHEMA = "correlator"
log = logging.getLogger(__name__)


def create_app(settings: CorrelatorSettings) -> FastAPI:
    snapshots = SnapshotCache(
        settings.match_rules(),
        settings.grouping(),
        settings.flap_policy(),
        settings.expiry(),
        poll_seconds=settings.correlator_reference_poll_seconds,
        reopen_window=settings.reopen_window(),
        repeat_interval=settings.repeat_interval(),
    )
    service = StatefulService(
        settings,
        SCHEMA,
        Path(__file__).parent / "migrations",
        kafka.NORMALIZED,
        settings.correlator_consumer_group,
        lambda pool, publisher: Correlation(pool, publisher, snapshots),
        # A group's alerts sit in different partitions (keyed by fingerprint): read in time order, they are
        # correlated in the order they happened, however the fetches fell (after a restart or a backlog).
        time_ordered=True,
    )
    tokens = TokenRegistry.load(settings.triage_tokens, settings.triage_token_file)
    stopping = asyncio.Event()

    async def follow_reference() -> None:
        await service.connected.wait()
        assert service.pool is not None
        service.on_stop(snapshots.stop)
        await snapshots.follow(service.pool, settings.database_url or "")

    async def sweeper() -> None:
        await service.connected.wait()
        assert service.pool is not None
        service.on_stop(stopping.set)
        while not stopping.is_set():
            try:
                if await sweep(service.pool, service.publisher, snapshots) >= SWEEP_LIMIT:
                    continue  # more may be due (the end of a storm leaves every alert's repeats held)
            except Exception as exc:  # database or broker down: the next round retries
                log.warning("expiry/heartbeat sweep failed: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), settings.correlator_sweep_seconds)

    async def refreshed(version: int) -> None:
        # This instance's own writes are in effect before the API answers; others hear the NOTIFY.
        if service.pool is not None:
            await snapshots.at_least(service.pool, version)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with service.running(extra=[follow_reference, sweeper]):
            yield

    app = FastAPI(
        title="triage correlator",
        version="1",
        lifespan=lifespan,
        description="Deduplicates alerts, binds CIs, matches known errors, applies change windows, groups alerts.",
    )
    install_error_handlers(app)
    install_health(app, service.readiness())
    require = bearer_auth(tokens)
    max_bytes = settings.correlator_max_import_bytes
    app.include_router(cmdb_api.router(lambda: service.pool, require, max_bytes, refreshed))
    app.include_router(catalog_api.router(lambda: service.pool, require, max_bytes, refreshed))
    openapi_bearer(app, [*catalog_api.BODY_MODELS, cmdb_api.CiIn])
    return app
