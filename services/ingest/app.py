"""Ingest's HTTP edge: authenticate, validate, normalise, and answer 202 only once the broker acked."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.shared import kafka
from services.shared.api import (
    ERROR_RESPONSES,
    ApiError,
    ErrorBody,
    FieldError,
    bearer_auth,
    bearer_or_key,
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
from .formats import Context, heartbeat, pagerduty
from .raw import NoStoredOffsets, RawIntake
from .settings import IngestSettings
from .sources import SOURCES, Source, normalized_messages

log = logging.getLogger(__name__)
UNAVAILABLE = {"model": ErrorBody, "description": "The broker did not acknowledge; retry after Retry-After seconds"}


class Accepted(BaseModel):
    status: str = "accepted"
    accepted: int
    fingerprints: list[str]


class PagerDutyAccepted(BaseModel):
    status: str = "success"
    message: str = "Event processed"
    dedup_key: str


class PagerDutyInvalid(BaseModel):
    """PagerDuty's own answer to a bad event (status, message, errors), plus triage's `error` and `fields`."""

    status: str = pagerduty.INVALID_STATUS
    message: str = pagerduty.INVALID_MESSAGE
    errors: list[str]
    error: str
    fields: list[FieldError] = []


def pagerduty_invalid(exc: ApiError) -> JSONResponse:
    errors = [f"{f.field}: {f.reason}" for f in exc.fields] or [exc.message]
    body = PagerDutyInvalid(errors=errors, error=exc.error, fields=exc.fields)
    return JSONResponse(body.model_dump(), status_code=400)


PAGERDUTY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{code: r for code, r in ERROR_RESPONSES.items() if code != 422},
    400: {"model": PagerDutyInvalid, "description": "Malformed JSON or an invalid event, answered as PagerDuty does"},
    503: UNAVAILABLE,
}


class Intake:
    """One request's path: body -> validated model -> Alerts -> acknowledged by the broker."""

    def __init__(self, settings: IngestSettings, publisher: kafka.Publisher):
        self._settings, self._publisher = settings, publisher
        self._identifying = settings.identifying_labels()

    async def body(self, request: Request) -> Any:
        return await read_json(request, self._settings.ingest_max_body_bytes)

    def validate(self, source: Source, body: Any) -> BaseModel:
        try:
            return parse_model(source.model, body)
        except ApiError:
            metrics.ALERTS.labels(source.name, "rejected").inc()
            raise

    def context(self) -> Context:
        return Context(received_at=datetime.now(UTC), identifying_labels=self._identifying)

    def normalise(self, source: Source, payload: BaseModel) -> list[Alert]:
        return source.normalise(payload, self.context())

    async def publish(self, source: str, alerts: list[Alert]) -> None:
        started = time.perf_counter()
        try:
            await self._publisher.publish(normalized_messages(alerts))
        except kafka.BrokerUnavailable as exc:
            log.warning("answered 503 to %d %s alerts: %s", len(alerts), source, exc)
            metrics.ALERTS.labels(source, "unavailable").inc(len(alerts))
            raise ApiError(
                503,
                "broker_unavailable",
                "alerts not accepted: the broker did not acknowledge; retry",
                headers={"Retry-After": str(self._settings.ingest_retry_after)},
            ) from None
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)
        metrics.ALERTS.labels(source, "accepted").inc(len(alerts))

    async def accept(self, source: Source, request: Request) -> list[Alert]:
        alerts = self.normalise(source, self.validate(source, await self.body(request)))
        await self.publish(source.name, alerts)
        return alerts


def accepted(alerts: list[Alert]) -> JSONResponse:
    body = Accepted(accepted=len(alerts), fingerprints=[a.fingerprint for a in alerts])
    return JSONResponse(body.model_dump(), status_code=202)


def create_app(settings: IngestSettings) -> FastAPI:
    publisher = kafka.Publisher(settings, timeout=settings.ingest_publish_timeout)
    tokens = TokenRegistry.load(settings.triage_tokens, settings.triage_token_file)
    require = bearer_auth(tokens)
    authorize = bearer_or_key(tokens)
    intake = Intake(settings, publisher)
    raw = kafka.BatchConsumer(
        settings,
        kafka.RAW,
        "triage-ingest-raw",
        NoStoredOffsets(),
        RawIntake(publisher, settings.identifying_labels()),
        # Merged by record time, each alerts.normalized partition gets its alerts in the order they happened,
        # which the correlator's time-ordered merge needs to see a group's alerts in that order.
        time_ordered=True,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(raw.run(), name="alerts.raw")
        yield
        raw.stop()
        await asyncio.wait([task], timeout=settings.shutdown_grace_seconds)
        task.cancel()
        await publisher.stop()

    app = FastAPI(
        title="triage ingest",
        version="1",
        lifespan=lifespan,
        description="Receives alerts from monitoring systems and puts them on the broker.",
    )
    install_error_handlers(app)

    async def consumer_ready() -> str | None:
        return raw.healthy_reason

    install_health(app, {"broker": publisher.check, "alerts.raw consumer": consumer_ready})

    def route(path: str, source: Source, summary: str) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            with metrics.REQUEST_SECONDS.labels(source.name).time():
                return accepted(await intake.accept(source, request))

        app.post(
            path,
            status_code=202,
            response_model=Accepted,
            tags=["alerts"],
            summary=summary,
            responses={**ERROR_RESPONSES, 503: UNAVAILABLE},
            openapi_extra=json_request_body(source.model),
            dependencies=[require("ingest")],
            name=source.name,
        )(endpoint)

    route("/v1/alerts/alertmanager", SOURCES["alertmanager"], "Alertmanager webhook (v4)")
    route("/v1/alerts/grafana", SOURCES["grafana"], "Grafana unified alerting webhook")
    route("/v1/alerts", SOURCES["native"], "triage alert JSON: one object or an array of up to 1,000")

    @app.post(
        "/v2/enqueue",
        status_code=202,
        response_model=PagerDutyAccepted,
        tags=["alerts"],
        summary="PagerDuty Events API v2: authenticate with a bearer token or with routing_key = a token",
        responses=PAGERDUTY_RESPONSES,
        openapi_extra=json_request_body(pagerduty.PagerDutyEvent),
    )
    async def pagerduty_enqueue(request: Request) -> JSONResponse:
        with metrics.REQUEST_SECONDS.labels(pagerduty.SOURCE).time():
            source = SOURCES[pagerduty.SOURCE]
            try:
                body = await intake.body(request)
                routing_key = body.get(pagerduty.ROUTING_KEY_FIELD) if isinstance(body, dict) else None
                authorize(request, "ingest", routing_key if isinstance(routing_key, str) else None)
                event = intake.validate(source, body)
            except ApiError as exc:
                if exc.status in (400, 422):
                    return pagerduty_invalid(exc)
                raise
            ctx = intake.context()
            alerts = source.normalise(event, ctx)
            await intake.publish(source.name, alerts)
            key = pagerduty.dedup_key_of(event, ctx)  # type: ignore[arg-type]
            return JSONResponse(PagerDutyAccepted(dedup_key=key).model_dump(), status_code=202)

    @app.post(
        "/v1/heartbeats/{name}",
        status_code=202,
        response_model=Accepted,
        tags=["heartbeats"],
        summary="A heartbeat: expect the next one within interval_seconds, else an alert is raised",
        responses={**ERROR_RESPONSES, 503: UNAVAILABLE},
        openapi_extra=json_request_body(heartbeat.Heartbeat),
        dependencies=[require("ingest")],
    )
    async def beat(name: str, request: Request) -> JSONResponse:
        if not heartbeat.NAME.match(name):
            raise ApiError(
                422,
                "invalid",
                "heartbeat name must be 1-128 of A-Z a-z 0-9 _ . : -",
                [FieldError(field="name", reason="invalid heartbeat name")],
            )
        body = parse_model(heartbeat.Heartbeat, await intake.body(request))
        alerts = heartbeat.normalise(name, body, intake.context())
        await intake.publish(heartbeat.SOURCE, alerts)
        return accepted(alerts)

    openapi_bearer(app, [s.model for s in SOURCES.values()] + [heartbeat.Heartbeat])
    return app
