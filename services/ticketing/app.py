"""The ticketing process: the alerts.correlated consumer, the outbox relay, and the incident API."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.shared import kafka
from services.shared.api import bearer_auth, install_error_handlers, install_health, openapi_bearer
from services.shared.auth import TokenRegistry
from services.shared.consuming import StatefulService

from . import api
from .pipeline import Ticketing
from .relay import OutboxRelay
from .settings import TicketingSettings

SCHEMA = "ticketing"


def create_app(settings: TicketingSettings) -> FastAPI:
    outbox_ready = asyncio.Event()
    service = StatefulService(
        settings,
        SCHEMA,
        Path(__file__).parent / "migrations",
        kafka.CORRELATED,
        "triage-ticketing",
        lambda pool, publisher: Ticketing(pool, publisher, outbox_ready),
    )
    tokens = TokenRegistry.load(settings.triage_tokens, settings.triage_token_file)

    async def relay() -> None:
        await service.connected.wait()
        assert service.pool is not None
        relay = OutboxRelay(service.pool, service.publisher, outbox_ready)
        service.on_stop(relay.stop)
        await relay.run()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with service.running(extra=[relay]):
            yield

    app = FastAPI(
        title="triage ticketing",
        version="1",
        lifespan=lifespan,
        description="Incidents from correlated alerts: ITIL lifecycle, priority, SLA, events.",
    )
    install_error_handlers(app)
    install_health(app, service.readiness())
    app.include_router(api.router(lambda: service.pool, bearer_auth(tokens)))
    openapi_bearer(app)
    return app
