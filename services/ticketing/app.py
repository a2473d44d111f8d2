"""The ticketing process: the alerts.correlated consumer, the outbox relay, the SLA timer, the SLA figures, and
the incident API."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.shared import kafka
from services.shared.api import (
    bearer_auth,
    install_body_limit,
    install_error_handlers,
    install_health,
    openapi_bearer,
)
from services.shared.auth import TokenRegistry
from services.shared.consuming import StatefulService

from . import api, subscriptions_api, webhooks
from .metrics import SlaFigures, register
from .pipeline import Ticketing
from .relay import OutboxRelay
from .settings import TicketingSettings
from .sla_timer import SlaTimer

SCHEMA = "ticketing"


def create_app(settings: TicketingSettings) -> FastAPI:
    rules, policy = settings.sla_rules(), settings.incident_policy()
    outbox_ready, deliveries_ready = asyncio.Event(), asyncio.Event()
    service = StatefulService(
        settings,
        SCHEMA,
        Path(__file__).parent / "migrations",
        kafka.CORRELATED,
        "triage-ticketing",
        lambda pool, publisher: Ticketing(pool, publisher, outbox_ready, policy, rules),
    )
    tokens = TokenRegistry.load(settings.triage_tokens, settings.triage_token_file)
    figures = SlaFigures(settings.ticketing_metrics_interval)
    register(figures)
    webhooks.register_metrics()

    async def relay() -> None:
        await service.connected.wait()
        assert service.pool is not None
        relay = OutboxRelay(service.pool, service.publisher, outbox_ready, deliveries_ready=deliveries_ready)
        service.on_stop(relay.stop)
        await relay.run()

    async def webhook_worker() -> None:
        await service.connected.wait()
        assert service.pool is not None
        worker = webhooks.WebhookWorker(service.pool, settings, deliveries_ready)
        service.on_stop(worker.stop)
        await worker.run()

    async def sla_timer() -> None:
        await service.connected.wait()
        assert service.pool is not None
        timer = SlaTimer(
            service.pool,
            rules,
            outbox_ready,
            settings.ticketing_sla_interval,
            timedelta(seconds=settings.ticketing_auto_close_after),
        )
        service.on_stop(timer.stop)
        await timer.run()

    async def sla_figures() -> None:
        await service.connected.wait()
        assert service.pool is not None
        service.on_stop(figures.stop)
        await figures.run(service.pool)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with service.running(extra=[relay, webhook_worker, sla_timer, sla_figures]):
            yield

    app = FastAPI(
        title="triage ticketing",
        version="1",
        lifespan=lifespan,
        description="Incidents from correlated alerts: ITIL lifecycle, priority, SLA clocks, escalation, events.",
    )
    install_error_handlers(app)
    install_body_limit(app, settings.ticketing_max_body_bytes)
    install_health(app, service.readiness())
    require = bearer_auth(tokens)
    app.include_router(api.router(lambda: service.pool, require, rules, outbox_ready))
    app.include_router(subscriptions_api.router(lambda: service.pool, require, deliveries_ready.set))
    openapi_bearer(app, subscriptions_api.BODY_MODELS)
    return app
