"""Ingest's HTTP edge: authenticate, validate, normalise, and answer 202 only once the broker acked."""

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.shared import kafka
from services.shared.api import (
    ERROR_RESPONSES,
    ApiError,
    bearer_auth,
    install_error_handlers,
    install_health,
    json_request_body,
    openapi_bearer,
    parse_model,
    read_json,
)
from services.shared.auth import TokenRegistry
from services.shared.contracts import Alert

from . import metrics
from .formats import Context, alertmanager
from .settings import IngestSettings


class Accepted(BaseModel):
    status: str = "accepted"
    accepted: int
    fingerprints: list[str]


def to_outgoing(alerts: Sequence[Alert]) -> list[kafka.Outgoing]:
    return [
        kafka.Outgoing(kafka.NORMALIZED, a.fingerprint.encode(), a.SerializeToString(), [("source", a.source.encode())])
        for a in alerts
    ]


def create_app(settings: IngestSettings) -> FastAPI:
    publisher = kafka.Publisher(settings, timeout=settings.ingest_publish_timeout)
    tokens = TokenRegistry.load(settings.triage_tokens, settings.triage_token_file)
    require = bearer_auth(tokens)
    identifying = settings.identifying_labels()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await publisher.stop()

    app = FastAPI(
        title="triage ingest",
        version="1",
        lifespan=lifespan,
        description="Receives alerts from monitoring systems and puts them on the broker.",
    )
    install_error_handlers(app)
    install_health(app, {"broker": publisher.check})
    openapi_bearer(app)

    async def publish(source: str, alerts: list[Alert]) -> None:
        started = time.perf_counter()
        try:
            await publisher.publish(to_outgoing(alerts))
        except kafka.BrokerUnavailable:
            metrics.ALERTS.labels(source, "unavailable").inc(len(alerts))
            raise ApiError(
                503,
                "broker_unavailable",
                "alerts not accepted: the broker did not acknowledge; retry",
                headers={"Retry-After": str(settings.ingest_retry_after)},
            ) from None
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)
        metrics.ALERTS.labels(source, "accepted").inc(len(alerts))

    def context() -> Context:
        return Context(received_at=datetime.now(UTC), identifying_labels=identifying)

    @app.post(
        "/v1/alerts/alertmanager",
        status_code=202,
        response_model=Accepted,
        tags=["alerts"],
        summary="Alertmanager webhook (v4)",
        responses={
            **ERROR_RESPONSES,
            503: ERROR_RESPONSES[413] | {"description": "Broker did not acknowledge; retry after Retry-After seconds"},
        },
        openapi_extra=json_request_body(alertmanager.AlertmanagerWebhook),
        dependencies=[require("ingest")],
    )
    async def alertmanager_webhook(request: Request) -> JSONResponse:
        with metrics.REQUEST_SECONDS.labels("alertmanager").time():
            try:
                body = parse_model(
                    alertmanager.AlertmanagerWebhook, await read_json(request, settings.ingest_max_body_bytes)
                )
            except ApiError:
                metrics.ALERTS.labels(alertmanager.SOURCE, "rejected").inc()
                raise
            alerts = alertmanager.normalise(body, context())
            await publish(alertmanager.SOURCE, alerts)
            return JSONResponse(
                Accepted(accepted=len(alerts), fingerprints=[a.fingerprint for a in alerts]).model_dump(),
                status_code=202,
            )

    # Make the request body schemas appear in OpenAPI even though the handlers read bodies themselves.
    app.openapi_schema = None
    _register_schemas(app, [alertmanager.AlertmanagerWebhook])
    return app


def _register_schemas(app: FastAPI, models: list[type[BaseModel]]) -> None:
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
