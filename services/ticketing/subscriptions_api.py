"""The webhook subscriptions API: subscribe a URL to incident event types, list and remove subscriptions, see
a subscription's deliveries (dead letters included) and re-queue a dead one. Scope `admin` throughout: a
subscription sends incident data out of the house, and its URL may carry credentials."""

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import asyncpg
import httpx
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from services.shared.api import (
    ERROR_RESPONSES,
    ApiError,
    ErrorBody,
    FieldError,
    json_request_body,
    parse_model,
    read_json,
)

from .cloudevents import ALL_TYPES, EVENT_TYPES

MAX_BODY_BYTES = 64 * 1024
SCOPE = "admin"
BIGINT_MAX = 2**63 - 1
EventType = Literal[(ALL_TYPES, *EVENT_TYPES)]  # type: ignore[valid-type]
DeliveryStatus = Literal["pending", "delivered", "dead"]


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook target, or None."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "must not contain whitespace or control characters"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "must be an http:// or https:// URL"
    try:
        parts.port  # noqa: B018 - raises on a bad port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        return f"is not a valid URL: {exc}"
    if not parts.hostname:
        return "has no host"
    return None


def shown_url(url: str) -> str:
    """The URL with any password in it masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="http:// or https:// URL that receives POSTed CloudEvents")
    event_types: list[EventType] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [ALL_TYPES],
        min_length=1,
        description='Incident event types to receive; "*" for all (the default).',
    )
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=256,
        description="HMAC-SHA256 key for the signature; generated (and returned once) when omitted.",
    )
    description: str = Field("", max_length=1000)

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        problem = url_problem(url)
        if problem:
            raise PydanticCustomError("url", problem)
        return url

    def types(self) -> list[str]:
        """Without repeats; `*` alone when it is there."""
        return [ALL_TYPES] if ALL_TYPES in self.event_types else list(dict.fromkeys(self.event_types))


class SubscriptionOut(BaseModel):
    id: UUID
    url: str = Field(description="Any password in it is masked")
    event_types: list[str]
    description: str
    created_at: datetime
    created_by: str
    pending: int = Field(description="Deliveries waiting (or being retried)")
    dead: int = Field(description="Deliveries dead-lettered after their last attempt")


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(description="The generated secret, shown this once; null when you gave one")


class DeliveryOut(BaseModel):
    id: int
    subscription_id: UUID
    event_id: UUID
    incident_id: UUID
    type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


BODY_MODELS = (SubscriptionIn,)
_SUBSCRIPTION = (
    "SELECT s.id, s.url, s.event_types, s.description, s.created_at, s.created_by,"
    " (SELECT count(*) FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'pending') AS pending,"
    " (SELECT count(*) FROM webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'dead') AS dead"
    " FROM subscriptions s"
)
_DELIVERY = (
    "SELECT id, subscription_id, event_id, incident_id, type, status, attempts,"
    " CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at,"
    " last_status_code, last_error, created_at, updated_at, delivered_at FROM webhook_deliveries"
)


def _subscription(row: Any, **extra: Any) -> dict[str, Any]:
    return {**dict(row), "url": shown_url(row["url"]), **extra}


def _not_found(what: str, field: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what}", [FieldError(field=field, reason="not found")])


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:  # a bigint id
        raise ApiError(
            422,
            "invalid",
            "cursor is not one this API returned",
            [FieldError(field="cursor", reason="unrecognised cursor")],
        )
    return int(cursor)


def router(pool: Callable[[], asyncpg.Pool | None], require: Any, wake: Callable[[], None] | None = None) -> APIRouter:
    """`wake` (optional) nudges the local delivery worker after a re-queue; without it the worker's poll does."""
    api = APIRouter(
        prefix="/v1/subscriptions",
        tags=["webhook subscriptions"],
        responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No such subscription or delivery"}},
        dependencies=[require(SCOPE)],
    )

    def db() -> asyncpg.Pool:
        current = pool()
        if current is None:
            raise ApiError(503, "unavailable", "database not connected yet", headers={"Retry-After": "5"})
        return current

    @api.post(
        "",
        status_code=201,
        response_model=SubscriptionCreated,
        summary="Subscribe a URL to incident events (signed CloudEvents)",
        openapi_extra=json_request_body(SubscriptionIn),
    )
    async def create(request: Request) -> SubscriptionCreated:
        body = parse_model(SubscriptionIn, await read_json(request, MAX_BODY_BYTES))
        secret = body.secret or secrets.token_urlsafe(32)
        row = await db().fetchrow(
            "INSERT INTO subscriptions (id, url, event_types, secret, description, created_by)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " RETURNING id, url, event_types, description, created_at, created_by, 0::bigint AS pending,"
            " 0::bigint AS dead",
            uuid4(),
            body.url,
            body.types(),
            secret,
            body.description,
            request.state.principal.name,  # set by the bearer check
        )
        return SubscriptionCreated(**_subscription(row, secret=None if body.secret else secret))

    @api.get("", response_model=list[SubscriptionOut], summary="Every subscription (secrets are never shown)")
    async def list_subscriptions() -> list[SubscriptionOut]:
        rows = await db().fetch(f"{_SUBSCRIPTION} ORDER BY s.created_at, s.id")  # noqa: S608 - constant SQL
        return [SubscriptionOut(**_subscription(r)) for r in rows]

    @api.get("/{subscription_id}", response_model=SubscriptionOut, summary="One subscription")
    async def get_subscription(subscription_id: UUID) -> SubscriptionOut:
        row = await db().fetchrow(f"{_SUBSCRIPTION} WHERE s.id = $1", subscription_id)  # noqa: S608
        if row is None:
            raise _not_found(f"subscription {subscription_id}", "subscription_id")
        return SubscriptionOut(**_subscription(row))

    @api.delete("/{subscription_id}", status_code=204, summary="Unsubscribe; its undelivered deliveries are dropped")
    async def delete_subscription(subscription_id: UUID) -> Response:
        if await db().fetchval("DELETE FROM subscriptions WHERE id = $1 RETURNING id", subscription_id) is None:
            raise _not_found(f"subscription {subscription_id}", "subscription_id")
        return Response(status_code=204)

    @api.get(
        "/{subscription_id}/deliveries",
        response_model=DeliveryPage,
        summary="A subscription's deliveries, newest first (status=dead lists its dead letters)",
    )
    async def list_deliveries(
        subscription_id: UUID,
        status: DeliveryStatus | None = None,
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = None,
    ) -> DeliveryPage:
        before = _before(cursor)
        conn_pool = db()
        if await conn_pool.fetchval("SELECT 1 FROM subscriptions WHERE id = $1", subscription_id) is None:
            raise _not_found(f"subscription {subscription_id}", "subscription_id")
        rows = await conn_pool.fetch(
            f"{_DELIVERY} WHERE subscription_id = $1"  # noqa: S608 - constant SQL
            " AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR id < $3)"
            " ORDER BY id DESC LIMIT $4",
            subscription_id,
            status,
            before,
            limit + 1,
        )
        items = [DeliveryOut(**dict(r)) for r in rows[:limit]]
        return DeliveryPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)

    @api.post(
        "/{subscription_id}/deliveries/{delivery_id}/retry",
        response_model=DeliveryOut,
        summary="Re-queue a dead delivery: it goes out again with a fresh set of attempts",
        responses={409: {"model": ErrorBody, "description": "The delivery is not dead"}},
    )
    async def retry_delivery(subscription_id: UUID, delivery_id: int = Path(ge=1, le=BIGINT_MAX)) -> DeliveryOut:
        conn_pool = db()
        row = await conn_pool.fetchrow(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),"
            " updated_at = now() WHERE id = $1 AND subscription_id = $2 AND status = 'dead' RETURNING id",
            delivery_id,
            subscription_id,
        )
        current = await conn_pool.fetchrow(
            f"{_DELIVERY} WHERE id = $1 AND subscription_id = $2",  # noqa: S608 - constant SQL
            delivery_id,
            subscription_id,
        )
        if current is None:
            raise _not_found(f"delivery {delivery_id} of subscription {subscription_id}", "delivery_id")
        if row is None:
            raise ApiError(
                409,
                "conflict",
                f"delivery {delivery_id} is {current['status']}; only a dead delivery can be re-queued",
                [FieldError(field="delivery_id", reason=f"status is {current['status']}")],
            )
        if wake is not None:
            wake()
        return DeliveryOut(**dict(current))

    return api
