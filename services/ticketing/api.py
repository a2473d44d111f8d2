"""The incident API: list with filters and cursor pagination, get one with its alerts, work notes and history,
and the human actions (acknowledge, assign, hold, resume, resolve, close, cancel, comment) with optimistic
concurrency: `If-Match: "<version>"` answers 412 when the incident changed meanwhile."""

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from services.shared.api import ERROR_RESPONSES, ApiError, ErrorBody, FieldError, storable

from . import recording, store
from .actions import Request as ActionRequest
from .actions import act
from .clocks import SlaRules, tick, views
from .events import NO_CAUSE
from .incident import Incident, versioned
from .lifecycle import Action, IllegalTransition

Status = Literal["new", "in_progress", "on_hold", "resolved", "closed", "cancelled"]
_TEXT = 10_000
Text = Annotated[str, AfterValidator(storable)]  # no NUL, no lone surrogate: PostgreSQL text must hold it


class SlaClockOut(BaseModel):
    target_seconds: float
    due_at: datetime | None = Field(description="null while the clock is paused (on hold)")
    state: Literal["in_progress", "warning", "breached", "achieved", "paused"]
    breached: bool


class SlaOut(BaseModel):
    response: SlaClockOut
    resolution: SlaClockOut


class IncidentOut(BaseModel):
    id: UUID
    number: str
    group_key: str
    title: str
    description: str
    status: Status
    priority: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=3)
    urgency: int = Field(ge=1, le=3)
    ci_id: str = Field(description="The root CI of the group; empty when unbound")
    ci_name: str
    affected_ci_ids: list[str]
    service: str
    assignment_group: str
    assignee: str
    known_error_id: str
    workaround: str
    change_id: str
    during_change: bool
    flapping: bool
    alert_count: int
    previous_incident_id: UUID | None
    resolution_code: str
    resolution_notes: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    version: int
    sla: SlaOut


class IncidentAlert(BaseModel):
    fingerprint: str
    firing: bool
    occurrences: int
    severity: int
    title: str
    ci_id: str


class WorkNote(BaseModel):
    at: datetime
    author: str
    text: str


class HistoryEntry(BaseModel):
    version: int
    at: datetime
    actor: str
    type: str
    changes: dict[str, list[Any]]
    note: str


class IncidentDetail(IncidentOut):
    alerts: list[IncidentAlert]
    work_notes: list[WorkNote]
    history: list[HistoryEntry]


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgeIn(_Body):
    pass


class AssignIn(_Body):
    assignee: Text = Field(min_length=1, max_length=256)
    assignment_group: Text | None = Field(None, min_length=1, max_length=256)


class ReasonIn(_Body):
    reason: Text = Field(min_length=1, max_length=_TEXT)


class ResolveIn(_Body):
    resolution_code: Text = Field(min_length=1, max_length=256, examples=["fixed", "workaround", "no_fault_found"])
    notes: Text = Field("", max_length=_TEXT)


class CommentIn(_Body):
    text: Text = Field(min_length=1, max_length=_TEXT)


def _out(i: Incident, rules: SlaRules, now: datetime) -> dict[str, Any]:
    clocks = views(i, now, rules)
    return {
        **{k: getattr(i, k) for k in IncidentOut.model_fields if k not in ("sla", "affected_ci_ids")},
        "affected_ci_ids": list(i.affected_ci_ids),
        "sla": {name: vars(view) for name, view in clocks.items()},
    }


def _cursor(i: Incident) -> str:
    return base64.urlsafe_b64encode(f"{i.opened_at.isoformat()}|{i.id}".encode()).decode()


def _parse_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        opened, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(opened), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "invalid", "cursor is not one this API returned", [FieldError(field="cursor", reason="unrecognised")]
        ) from None


def _if_match(
    if_match: str | None = Header(None, alias="If-Match", description='The version you last saw, as "3"; 412 if stale'),
) -> None:
    """Declares the header for OpenAPI; `perform` reads it."""


def _version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ApiError(
            400,
            "invalid",
            "If-Match must be an incident version",
            [FieldError(field="If-Match", reason="not a version")],
        )
    return int(text)


_LIST = f"""
SELECT {store.INCIDENT_COLUMNS} FROM incidents
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::smallint IS NULL OR priority = $2)
  AND ($3::text IS NULL OR ci_id = $3 OR affected_ci_ids @> ARRAY[$3::text])
  AND ($4::text IS NULL OR service = $4)
  AND ($5::text IS NULL OR assignment_group = $5)
  AND ($6::timestamptz IS NULL OR opened_at >= $6)
  AND ($7::timestamptz IS NULL OR opened_at < $7)
  AND ($8::timestamptz IS NULL OR (opened_at, id) < ($8, $9::uuid))
ORDER BY opened_at DESC, id DESC LIMIT $10
"""  # noqa: S608 - a constant column list; every value is a parameter


def router(
    pool: Callable[[], asyncpg.Pool | None],
    require: Any,
    rules: SlaRules,
    outbox_ready: asyncio.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    api = APIRouter(prefix="/v1/incidents", tags=["incidents"], responses=ERROR_RESPONSES)

    def db() -> asyncpg.Pool:
        current = pool()
        if current is None:
            raise ApiError(503, "unavailable", "database not connected yet", headers={"Retry-After": "5"})
        return current

    @api.get("", response_model=IncidentPage, summary="List incidents, newest first", dependencies=[require("read")])
    async def list_incidents(
        status: Status | None = None,
        priority: int | None = Query(None, ge=1, le=5),
        ci: str | None = Query(None, max_length=256, description="Root or affected CI id"),
        service: str | None = Query(None, max_length=256),
        assignment_group: str | None = Query(None, max_length=256),
        opened_after: AwareDatetime | None = None,
        opened_before: AwareDatetime | None = None,
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(None, max_length=512),
    ) -> dict[str, Any]:
        after = _parse_cursor(cursor) if cursor else None
        async with db().acquire() as conn:
            rows = await conn.fetch(
                _LIST, status, priority, ci, service, assignment_group, opened_after, opened_before,
                after[0] if after else None, after[1] if after else None, limit + 1,
            )  # fmt: skip
        found = [store.incident_of(r) for r in rows]
        now = clock()
        return {
            "items": [_out(i, rules, now) for i in found[:limit]],
            "next_cursor": _cursor(found[limit - 1]) if len(found) > limit else None,
        }

    async def detail(conn: asyncpg.Connection, i: Incident) -> dict[str, Any]:
        ident = UUID(i.id)
        notes = await conn.fetch("SELECT at, author, text FROM work_notes WHERE incident_id = $1 ORDER BY id", ident)
        history = await conn.fetch(
            "SELECT version, at, actor, type, changes, note FROM incident_history WHERE incident_id = $1"
            " ORDER BY id DESC LIMIT 1000",
            ident,
        )
        return {
            **_out(i, rules, clock()),
            "alerts": [asdict(m) for m in sorted(i.members.values(), key=lambda m: m.fingerprint)],
            "work_notes": [dict(n) for n in notes],
            "history": [{**dict(h), "changes": json.loads(h["changes"])} for h in reversed(history)],
        }

    def found(i: Incident | None, ref: str) -> Incident:
        if i is None:
            raise ApiError(404, "not_found", f"no incident {ref!r}", [FieldError(field="ref", reason="not found")])
        return i

    @api.get(
        "/{ref}",
        response_model=IncidentDetail,
        summary="One incident by id or number (INC0000001), with its alerts, work notes and history",
        dependencies=[require("read")],
        responses={404: {"model": ErrorBody, "description": "No such incident"}},
    )
    async def get_incident(ref: str, response: Response) -> dict[str, Any]:
        async with db().acquire() as conn:
            i = found(await store.load_one(conn, ref), ref)
            response.headers["ETag"] = f'"{i.version}"'
            return await detail(conn, i)

    async def perform(request: Request, ref: str, response: Response, action: Action, **details: Any) -> dict:
        principal = request.state.principal
        expected = _version(request.headers.get("if-match"))
        async with db().acquire() as conn:
            async with conn.transaction():
                i = found(await store.load_one(conn, ref, lock=True), ref)
                if expected is not None and expected != i.version:
                    raise ApiError(
                        412,
                        "precondition_failed",
                        f"incident {i.number} is at version {i.version}, not {expected}: reload and retry",
                        [FieldError(field="If-Match", reason=f"current version is {i.version}")],
                    )
                try:
                    change = act(i, ActionRequest(action, principal.name, clock(), **details))
                except IllegalTransition as exc:
                    reason = [FieldError(field="status", reason=str(exc))]
                    raise ApiError(409, "illegal_transition", str(exc), reason) from None
                change = versioned(tick(change, change.incident.updated_at, rules))
                (change,) = (await recording.record(conn, [(change, NO_CAUSE)], rules)).changes
            outbox_ready.set()
            response.headers["ETag"] = f'"{change.incident.version}"'
            return await detail(conn, change.incident)

    def action_route(path: str, summary: str) -> Callable:
        return api.post(
            path,
            response_model=IncidentDetail,
            summary=summary,
            dependencies=[require("write"), Depends(_if_match)],
            responses={
                404: {"model": ErrorBody, "description": "No such incident"},
                409: {"model": ErrorBody, "description": "Not allowed from the current status"},
                412: {"model": ErrorBody, "description": "If-Match does not match the incident's version"},
            },
        )

    @action_route("/{ref}/acknowledge", "Acknowledge: someone is on it (new -> in progress); stops the response clock")
    async def acknowledge(ref: str, request: Request, response: Response, body: AcknowledgeIn | None = None) -> dict:
        return await perform(request, ref, response, Action.ACKNOWLEDGE)

    @action_route("/{ref}/assign", "Assign to a person (and optionally another group)")
    async def assign(ref: str, body: AssignIn, request: Request, response: Response) -> dict:
        return await perform(
            request, ref, response, Action.ASSIGN, assignee=body.assignee, assignment_group=body.assignment_group
        )

    @action_route("/{ref}/hold", "Put on hold (waiting on someone else); pauses the resolution clock")
    async def hold(ref: str, body: ReasonIn, request: Request, response: Response) -> dict:
        return await perform(request, ref, response, Action.HOLD, note=body.reason)

    @action_route("/{ref}/resume", "Resume work after a hold")
    async def resume(ref: str, request: Request, response: Response, body: AcknowledgeIn | None = None) -> dict:
        return await perform(request, ref, response, Action.RESUME)

    @action_route("/{ref}/resolve", "Resolve with a resolution code and notes")
    async def resolve(ref: str, body: ResolveIn, request: Request, response: Response) -> dict:
        return await perform(
            request, ref, response, Action.RESOLVE, resolution_code=body.resolution_code, note=body.notes
        )

    @action_route("/{ref}/close", "Close a resolved incident")
    async def close(ref: str, request: Request, response: Response, body: AcknowledgeIn | None = None) -> dict:
        return await perform(request, ref, response, Action.CLOSE)

    @action_route("/{ref}/cancel", "Cancel an incident opened in error")
    async def cancel(ref: str, body: ReasonIn, request: Request, response: Response) -> dict:
        return await perform(request, ref, response, Action.CANCEL, note=body.reason)

    @action_route("/{ref}/comments", "Add a work note")
    async def comment(ref: str, body: CommentIn, request: Request, response: Response) -> dict:
        return await perform(request, ref, response, Action.COMMENT, note=body.text)

    return api
