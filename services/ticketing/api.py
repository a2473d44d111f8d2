"""The incident API (read side for now): list with filters and cursor pagination, get one."""

import base64
import binascii
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.shared.api import ERROR_RESPONSES, ApiError, FieldError

from .store import INCIDENT_COLUMNS

Status = Literal["new", "in_progress", "on_hold", "resolved", "closed", "cancelled"]


class IncidentAlert(BaseModel):
    fingerprint: str
    firing: bool
    occurrences: int
    severity: int
    title: str


class IncidentOut(BaseModel):
    id: UUID
    number: str
    group_key: str
    title: str
    description: str
    status: Status
    priority: int
    ci_id: str
    alert_count: int
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    version: int


class IncidentDetail(IncidentOut):
    alerts: list[IncidentAlert]


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


def _cursor(row: Any) -> str:
    return base64.urlsafe_b64encode(f"{row['opened_at'].isoformat()}|{row['id']}".encode()).decode()


def _parse_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        opened, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(opened), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422,
            "invalid",
            "cursor is not one this API returned",
            [FieldError(field="cursor", reason="unrecognised cursor")],
        ) from None


def router(pool: Any, require: Any) -> APIRouter:
    api = APIRouter(prefix="/v1/incidents", tags=["incidents"], responses=ERROR_RESPONSES)

    def db() -> asyncpg.Pool:
        if pool() is None:
            raise ApiError(503, "unavailable", "database not connected yet", headers={"Retry-After": "5"})
        return pool()

    @api.get(
        "",
        response_model=IncidentPage,
        summary="List incidents, newest first",
        dependencies=[require("read")],
    )
    async def list_incidents(
        status: Status | None = None, limit: int = Query(50, ge=1, le=500), cursor: str | None = None
    ) -> IncidentPage:
        after = _parse_cursor(cursor) if cursor else None
        rows = await db().fetch(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents"  # noqa: S608 - a constant column list
            " WHERE ($1::text IS NULL OR status = $1)"
            " AND ($2::timestamptz IS NULL OR (opened_at, id) < ($2, $3::uuid))"
            " ORDER BY opened_at DESC, id DESC LIMIT $4",
            status,
            after[0] if after else None,
            after[1] if after else None,
            limit + 1,
        )
        items = [IncidentOut.model_validate(dict(r)) for r in rows[:limit]]
        return IncidentPage(items=items, next_cursor=_cursor(rows[limit - 1]) if len(rows) > limit else None)

    @api.get(
        "/{ref}",
        response_model=IncidentDetail,
        summary="One incident by id or number (INC0000001)",
        dependencies=[require("read")],
    )
    async def get_incident(ref: str) -> IncidentDetail:
        try:
            ident: Any = UUID(ref)
            where = "id = $1::uuid"
        except ValueError:
            ident, where = ref.upper(), "number = $1"
        conn_pool = db()
        row = await conn_pool.fetchrow(f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {where}", ident)  # noqa: S608
        if row is None:
            raise ApiError(404, "not_found", f"no incident {ref!r}", [FieldError(field="ref", reason="not found")])
        alerts = await conn_pool.fetch(
            "SELECT fingerprint, firing, occurrences, severity, title FROM incident_alerts"
            " WHERE incident_id = $1 ORDER BY fingerprint",
            row["id"],
        )
        return IncidentDetail(**dict(row), alerts=[IncidentAlert(**dict(a)) for a in alerts])

    return api
