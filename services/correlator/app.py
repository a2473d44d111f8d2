"""The correlator process: the alerts.normalized consumer plus health, readiness and metrics."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.shared import kafka
from services.shared.api import install_error_handlers, install_health, openapi_bearer
from services.shared.consuming import StatefulService

from .pipeline import Correlation
from .settings import CorrelatorSettings

SCHEMA = "correlator"


def create_app(settings: CorrelatorSettings) -> FastAPI:
    service = StatefulService(
        settings,
        SCHEMA,
        Path(__file__).parent / "migrations",
        kafka.NORMALIZED,
        "triage-correlator",
        Correlation,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = FastAPI(
        title="triage correlator",
        version="1",
        lifespan=lifespan,
        description="Deduplicates alerts, binds CIs, matches known errors, groups alerts.",
    )
    install_error_handlers(app)
    install_health(app, service.readiness())
    openapi_bearer(app)
    return app
