"""Admin API for the reference data beside the CMDB: known errors, changes, maintenance windows, and the
alerts linked to a change. Bulk writes are all or nothing; a bad item is named by index and field."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.shared.api import ERROR_RESPONSES, ApiError, FieldError, field_errors

from . import store
from .cmdb_api import ID_PATTERN, ID_RULE, NOT_FOUND, invalid, parse_json_array, read_body
from .known_errors import KnownErrorCatalog, KnownErrorInvalid
from .windows import normalised_state

CHANGE_STATES = ("requested", "approved", "in_progress", "closed", "cancelled", "rejected")


class MatcherIn(BaseModel):
    """One matcher of a known error; which fields it needs depends on its type (KnownErrorCatalog checks)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["label", "label_regex", "ci_class", "text_regex"]
    label: str | None = Field(None, description="label, label_regex: the label's name")
    value: str | None = Field(None, description="label: the exact value; ci_class: the class of the bound CI")
    regex: str | None = Field(
        None, description="label_regex: matches the whole value; text_regex: searched in summary and description"
    )


class KnownErrorIn(BaseModel):
    """A known error: every matcher must match; the most specific (most matchers, then lowest id) wins."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, pattern=ID_PATTERN, description=ID_RULE)
    title: str = ""
    matchers: list[MatcherIn] = Field(min_length=1)
    workaround: str = ""
    problem_ref: str = ""


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, pattern=ID_PATTERN, description=ID_RULE)
    ci_ids: list[str] = Field(min_length=1)
    planned_start: AwareDatetime
    planned_end: AwareDatetime
    state: str = Field(description=f"one of {', '.join(CHANGE_STATES)} (approved and in_progress cover alerts)")
    policy: Literal["suppress", "mark"] = "mark"


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, pattern=ID_PATTERN, description=ID_RULE)
    ci_ids: list[str] = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime
    policy: Literal["suppress", "mark"] = "suppress"


class ChangeOut(BaseModel):
    id: str
    ci_ids: list[str]
    planned_start: datetime
    planned_end: datetime
    state: str
    policy: str


class LinkedAlert(BaseModel):
    fingerprint: str
    group_key: str = Field(description="The group key emitted on alerts.correlated: ticketing's incident key")
    group_instance: str = Field(description="The time-window instance of the group the alert was in when linked")
    ci_id: str | None
    firing: bool  # now
    suppressed: bool  # recorded, not escalated
    during_change: bool  # passed on marked (as of its latest sighting)
    title: str
    linked_at: datetime


class LinkedGroup(BaseModel):
    """A group (an incident's key downstream) with alerts that the change or window explains."""

    group_key: str
    root_ci_id: str | None
    alerts: int = Field(description="Alerts of the group linked to the change or window")
    suppressed: int = Field(description="Of those, recorded but never passed on (no incident opened for them)")
    firing: int = Field(description="Of those, firing now")
    first_linked_at: datetime
    last_linked_at: datetime


class Applied(BaseModel):
    applied: int
    version: int


def array_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a handler that reads its JSON array body itself (size and type enforced first)."""
    items = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "array", "items": items}}},
        }
    }


BODY_MODELS = (ChangeIn, WindowIn, KnownErrorIn)
_KNOWN_ERRORS = TypeAdapter(list[KnownErrorIn])
_CHANGES = TypeAdapter(list[ChangeIn])
_WINDOWS = TypeAdapter(list[WindowIn])


def _parse(adapter: TypeAdapter, data: list[Any]) -> list[Any]:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid", "request rejected; nothing was applied", field_errors(exc.errors())) from None


async def _check_windows(conn: asyncpg.Connection, items: list[Any], start: str, end: str) -> None:
    """Times in order, CIs known to the CMDB (one query for the whole request), ids unique."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            raise invalid(f"[{i}].id", f"duplicate id {item.id!r}")
        seen.add(item.id)
        if getattr(item, end) < getattr(item, start):
            raise invalid(f"[{i}].{end}", "ends before it starts")
    wanted = sorted({c for item in items for c in item.ci_ids})
    known = {r["id"] for r in await conn.fetch("SELECT id FROM cis WHERE id = ANY($1::text[])", wanted)}
    for i, item in enumerate(items):
        for j, ci_id in enumerate(item.ci_ids):
            if ci_id not in known:
                raise invalid(f"[{i}].ci_ids[{j}]", f"unknown CI {ci_id!r}")


def router(
    pool: Callable[[], asyncpg.Pool | None],
    require: Any,
    max_bytes: int,
    refreshed: Callable[[int], Awaitable[Any]],
) -> APIRouter:
    api = APIRouter(tags=["reference data"], responses=ERROR_RESPONSES)

    def db() -> asyncpg.Pool:
        current = pool()
        if current is None:
            raise ApiError(503, "unavailable", "database not connected yet", headers={"Retry-After": "5"})
        return current

    async def body(request: Request) -> list[Any]:
        _, raw = await read_body(request, max_bytes, ("application/json",))
        return parse_json_array(raw)

    # --- known errors ---

    @api.put(
        "/v1/known-errors",
        response_model=Applied,
        summary="Bulk upsert known errors, all or nothing",
        dependencies=[require("write")],
        openapi_extra=array_body(KnownErrorIn),
    )
    async def put_known_errors(request: Request) -> Applied:
        parsed: list[KnownErrorIn] = _parse(_KNOWN_ERRORS, await body(request))
        kept = [ke.model_dump(exclude_none=True) for ke in parsed]
        try:
            KnownErrorCatalog.build(kept)  # every regex compiled, every matcher's fields checked, ids unique
        except KnownErrorInvalid as exc:
            raise invalid(f"[{exc.index}].{exc.field}", exc.reason) from None
        async with db().acquire() as conn, conn.transaction():
            status = await conn.execute(
                "INSERT INTO known_errors (id, record)"
                " SELECT i, r::jsonb FROM unnest($1::text[], $2::text[]) AS u(i, r)"
                " ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()"
                " WHERE known_errors.record IS DISTINCT FROM EXCLUDED.record",
                [r["id"] for r in kept],
                [orjson.dumps(r).decode() for r in kept],
            )
            # Nothing new: no version bump, so no instance rebuilds its snapshot for it.
            changed = status.rsplit(" ", 1)[-1] != "0"
            version = await (store.bump_version(conn) if changed else store.cmdb_version(conn))
        await refreshed(version)
        return Applied(applied=len(kept), version=version)

    @api.get("/v1/known-errors", summary="Every known error, by id", dependencies=[require("read")])
    async def list_known_errors() -> list[dict[str, Any]]:
        rows = await db().fetch("SELECT record::text AS record FROM known_errors ORDER BY id")
        return [orjson.loads(r["record"]) for r in rows]

    @api.get("/v1/known-errors/{ke_id}", summary="One known error", dependencies=[require("read")], responses=NOT_FOUND)
    async def get_known_error(ke_id: str) -> dict[str, Any]:
        raw = await db().fetchval("SELECT record::text FROM known_errors WHERE id = $1", ke_id)
        if raw is None:
            raise ApiError(404, "not_found", f"no known error {ke_id!r}", [FieldError(field="id", reason="not found")])
        return orjson.loads(raw)

    @api.delete(
        "/v1/known-errors/{ke_id}",
        status_code=204,
        summary="Retire a known error",
        dependencies=[require("write")],
        responses=NOT_FOUND,
    )
    async def delete_known_error(ke_id: str) -> Response:
        async with db().acquire() as conn, conn.transaction():
            deleted = await conn.fetchval("DELETE FROM known_errors WHERE id = $1 RETURNING id", ke_id)
            if deleted is None:
                raise ApiError(
                    404, "not_found", f"no known error {ke_id!r}", [FieldError(field="id", reason="not found")]
                )
            version = await store.bump_version(conn)
        await refreshed(version)
        return Response(status_code=204)

    # --- changes and maintenance windows ---

    @api.put(
        "/v1/changes",
        response_model=Applied,
        summary="Bulk upsert changes, all or nothing",
        dependencies=[require("write")],
        openapi_extra=array_body(ChangeIn),
    )
    async def put_changes(request: Request) -> Applied:
        changes: list[ChangeIn] = _parse(_CHANGES, await body(request))
        for i, change in enumerate(changes):
            if normalised_state(change.state) not in CHANGE_STATES:
                raise invalid(f"[{i}].state", f"{change.state!r} is not one of {', '.join(CHANGE_STATES)}")
        async with db().acquire() as conn, conn.transaction():
            await _check_windows(conn, changes, "planned_start", "planned_end")
            await conn.execute(
                "INSERT INTO changes (id, ci_ids, planned_start, planned_end, state, policy)"
                " SELECT i, ARRAY(SELECT jsonb_array_elements_text(c::jsonb)), s, e, st, p"
                " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[])"
                " AS u(i, c, s, e, st, p)"
                " ON CONFLICT (id) DO UPDATE SET ci_ids = EXCLUDED.ci_ids, planned_start = EXCLUDED.planned_start,"
                " planned_end = EXCLUDED.planned_end, state = EXCLUDED.state, policy = EXCLUDED.policy,"
                " updated_at = now()",
                [c.id for c in changes],
                [orjson.dumps(c.ci_ids).decode() for c in changes],
                [c.planned_start for c in changes],
                [c.planned_end for c in changes],
                [normalised_state(c.state) for c in changes],
                [c.policy for c in changes],
            )
            version = await store.bump_version(conn)
        await refreshed(version)
        return Applied(applied=len(changes), version=version)

    @api.get(
        "/v1/changes/{change_id}",
        response_model=ChangeOut,
        summary="One change",
        dependencies=[require("read")],
        responses=NOT_FOUND,
    )
    async def get_change(change_id: str) -> ChangeOut:
        row = await db().fetchrow(
            "SELECT id, ci_ids, planned_start, planned_end, state, policy FROM changes WHERE id = $1", change_id
        )
        if row is None:
            raise ApiError(404, "not_found", f"no change {change_id!r}", [FieldError(field="id", reason="not found")])
        return ChangeOut(**dict(row))

    @api.get(
        "/v1/changes/{change_id}/alerts",
        response_model=list[LinkedAlert],
        summary="Alerts linked to a change (suppressed or marked), with their group keys",
        dependencies=[require("read")],
    )
    async def change_alerts(change_id: str) -> list[LinkedAlert]:
        return [LinkedAlert(**dict(r)) for r in await store.linked_alerts(db(), "change", change_id)]

    @api.get(
        "/v1/changes/{change_id}/groups",
        response_model=list[LinkedGroup],
        summary="Groups (incident keys) with alerts linked to a change: the incidents the change explains",
        dependencies=[require("read")],
    )
    async def change_groups(change_id: str) -> list[LinkedGroup]:
        return [LinkedGroup(**dict(r)) for r in await store.linked_groups(db(), "change", change_id)]

    @api.put(
        "/v1/maintenance-windows",
        response_model=Applied,
        summary="Bulk upsert maintenance windows, all or nothing",
        dependencies=[require("write")],
        openapi_extra=array_body(WindowIn),
    )
    async def put_windows(request: Request) -> Applied:
        windows: list[WindowIn] = _parse(_WINDOWS, await body(request))
        async with db().acquire() as conn, conn.transaction():
            await _check_windows(conn, windows, "start", "end")
            await conn.execute(
                "INSERT INTO maintenance_windows (id, ci_ids, starts_at, ends_at, policy)"
                " SELECT i, ARRAY(SELECT jsonb_array_elements_text(c::jsonb)), s, e, p"
                " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])"
                " AS u(i, c, s, e, p)"
                " ON CONFLICT (id) DO UPDATE SET ci_ids = EXCLUDED.ci_ids, starts_at = EXCLUDED.starts_at,"
                " ends_at = EXCLUDED.ends_at, policy = EXCLUDED.policy, updated_at = now()",
                [w.id for w in windows],
                [orjson.dumps(w.ci_ids).decode() for w in windows],
                [w.start for w in windows],
                [w.end for w in windows],
                [w.policy for w in windows],
            )
            version = await store.bump_version(conn)
        await refreshed(version)
        return Applied(applied=len(windows), version=version)

    @api.get(
        "/v1/maintenance-windows/{window_id}/alerts",
        response_model=list[LinkedAlert],
        summary="Alerts linked to a maintenance window",
        dependencies=[require("read")],
    )
    async def window_alerts(window_id: str) -> list[LinkedAlert]:
        return [LinkedAlert(**dict(r)) for r in await store.linked_alerts(db(), "maintenance", window_id)]

    @api.get(
        "/v1/maintenance-windows/{window_id}/groups",
        response_model=list[LinkedGroup],
        summary="Groups (incident keys) with alerts linked to a maintenance window",
        dependencies=[require("read")],
    )
    async def window_groups(window_id: str) -> list[LinkedGroup]:
        return [LinkedGroup(**dict(r)) for r in await store.linked_groups(db(), "maintenance", window_id)]

    return api
