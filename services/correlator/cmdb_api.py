"""CMDB admin API: bulk upsert of CIs with their relationships (JSON array or CSV), one CI with its
neighbours. A request is applied whole or not at all; a bad row is named by index and field."""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, Literal

import asyncpg
import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.shared.api import (
    ERROR_RESPONSES,
    ApiError,
    ErrorBody,
    FieldError,
    parse_json,
    read_limited,
    refuse_unstorable_json,
)

from . import store
from .cmdb import CI, Relationship
from .cmdb_import import MAX_CIS, ImportInvalid, TooManyCis, cis_from_csv, cis_from_json, validate


class RelationshipIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: Literal["runs_on", "depends_on", "part_of"]
    target: str = Field(min_length=1, description="The CI this one relies on: in this request or already stored")


# Ids are path segments of the API (GET /v1/cis/{id}): a "/" in one would make it unreachable.
ID_PATTERN = r"^[^/]*\S[^/]*$"
ID_RULE = "not blank, and without '/' (ids are path segments of the API)"


class CiIn(BaseModel):
    """One CI of a JSON import, for the OpenAPI document (cmdb_import parses and checks the body; null is taken
    as absent). CSV: the same columns, aliases and relationship targets separated by |, attributes as a JSON
    object or k=v|k=v."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=ID_PATTERN, description=ID_RULE)
    name: str | None = Field(None, description="Defaults to the id")
    ci_class: str = Field(alias="class", min_length=1, pattern=r"\S", description="host, database, application, ...")
    environment: str | None = None
    criticality: int | None = Field(3, ge=1, le=5, description="1 (most critical) to 5")
    support_group: str | None = None
    aliases: list[Annotated[str, Field(min_length=1)]] | None = None
    attributes: dict[str, Any] | None = None
    runs_on: list[str] | None = None
    depends_on: list[str] | None = None
    part_of: list[str] | None = None
    relationships: list[RelationshipIn] | None = None


class NeighbourOut(BaseModel):
    ci_id: str
    kind: str
    direction: str  # "out": this CI <kind> ci_id; "in": ci_id <kind> this CI


class CiOut(BaseModel):
    id: str
    name: str
    ci_class: str = Field(serialization_alias="class")
    environment: str
    criticality: int
    support_group: str
    aliases: list[str]
    attributes: dict[str, Any]
    neighbours: list[NeighbourOut]


class UpsertResult(BaseModel):
    upserted: int
    relationships: int
    version: int


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such id"}}


def invalid(field: str, reason: str, message: str = "request rejected; nothing was applied") -> ApiError:
    return ApiError(422, "invalid", message, [FieldError(field=field, reason=reason)])


async def read_body(request: Request, max_bytes: int, media_types: Iterable[str]) -> tuple[str, bytes]:
    """(media type, body bytes), enforcing content type and size before anything is parsed."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    allowed = tuple(media_types)
    if ctype not in allowed:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type must be one of {', '.join(allowed)}, got {ctype or 'none'!r}",
            [FieldError(field="content-type", reason=f"must be one of {', '.join(allowed)}")],
        )
    return ctype, await read_limited(request, max_bytes)


def parse_json_array(body: bytes) -> list[Any]:
    data = parse_json(body)
    if not isinstance(data, list):
        raise invalid("body", "expected a JSON array")
    refuse_unstorable_json(body, data)
    return data


# --- storing ---------------------------------------------------------------------------------------------


def _rows(status: str) -> int:
    """Rows a statement touched, from its status ("INSERT 0 12", "DELETE 3")."""
    return int(status.rsplit(" ", 1)[-1])


async def upsert(conn: asyncpg.Connection, cis: list[CI], rels: list[Relationship]) -> int:
    """COPY into temporary tables, then one INSERT ... ON CONFLICT each: 100,000 CIs in a few seconds.
    Each CI's outgoing relationships become exactly those given. An import that changes nothing leaves the
    version alone, so no instance rebuilds its snapshot for it."""
    await conn.execute(
        "CREATE TEMP TABLE incoming_cis (id text, name text, class text, environment text, criticality smallint,"
        " support_group text, aliases text[], attributes jsonb) ON COMMIT DROP;"
        "CREATE TEMP TABLE incoming_relationships (source_id text, kind text, target_id text) ON COMMIT DROP"
    )
    await conn.copy_records_to_table(
        "incoming_cis",
        records=[
            (
                c.id,
                c.name,
                c.ci_class,
                c.environment,
                c.criticality,
                c.support_group,
                list(c.aliases),
                orjson.dumps(dict(c.attributes)).decode(),
            )
            for c in cis
        ],
    )
    await conn.copy_records_to_table(
        "incoming_relationships", records=[(r.source_id, r.kind, r.target_id) for r in rels]
    )
    changed = await conn.execute(
        """
        INSERT INTO cis (id, name, class, environment, criticality, support_group, aliases, attributes)
        SELECT id, name, class, environment, criticality, support_group, aliases, attributes FROM incoming_cis
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, class = EXCLUDED.class,
            environment = EXCLUDED.environment, criticality = EXCLUDED.criticality,
            support_group = EXCLUDED.support_group, aliases = EXCLUDED.aliases, attributes = EXCLUDED.attributes,
            updated_at = now()
        WHERE (cis.name, cis.class, cis.environment, cis.criticality, cis.support_group, cis.aliases, cis.attributes)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.class, EXCLUDED.environment, EXCLUDED.criticality,
                                EXCLUDED.support_group, EXCLUDED.aliases, EXCLUDED.attributes)
        """
    )
    removed = await conn.execute(
        """
        DELETE FROM relationships r USING incoming_cis c
        WHERE r.source_id = c.id AND NOT EXISTS (
            SELECT 1 FROM incoming_relationships i
            WHERE i.source_id = r.source_id AND i.kind = r.kind AND i.target_id = r.target_id)
        """
    )
    added = await conn.execute(
        "INSERT INTO relationships (source_id, kind, target_id)"
        " SELECT DISTINCT source_id, kind, target_id FROM incoming_relationships ON CONFLICT DO NOTHING"
    )
    if not any(map(_rows, (changed, removed, added))):
        return await store.cmdb_version(conn)
    return await store.bump_version(conn)


async def ci_detail(pool: asyncpg.Pool, ci_id: str) -> CiOut | None:
    row = await pool.fetchrow(
        "SELECT id, name, class, environment, criticality, support_group, aliases, attributes::text AS attrs"
        " FROM cis WHERE id = $1",
        ci_id,
    )
    if row is None:
        return None
    links = await pool.fetch(
        "SELECT target_id AS ci_id, kind, 'out' AS direction FROM relationships WHERE source_id = $1"
        " UNION ALL SELECT source_id, kind, 'in' FROM relationships WHERE target_id = $1"
        " ORDER BY direction DESC, kind, ci_id",
        ci_id,
    )
    return CiOut(
        id=row["id"],
        name=row["name"],
        ci_class=row["class"],
        environment=row["environment"],
        criticality=row["criticality"],
        support_group=row["support_group"],
        aliases=list(row["aliases"]),
        attributes=orjson.loads(row["attrs"]),
        neighbours=[NeighbourOut(**dict(r)) for r in links],
    )


def router(
    pool: Callable[[], asyncpg.Pool | None],
    require: Any,
    max_bytes: int,
    refreshed: Callable[[int], Awaitable[Any]],
) -> APIRouter:
    api = APIRouter(prefix="/v1/cis", tags=["cmdb"], responses=ERROR_RESPONSES)

    def db() -> asyncpg.Pool:
        current = pool()
        if current is None:
            raise ApiError(503, "unavailable", "database not connected yet", headers={"Retry-After": "5"})
        return current

    @api.put(
        "",
        response_model=UpsertResult,
        summary="Bulk upsert CIs and their outgoing relationships (JSON array or CSV), all or nothing",
        dependencies=[require("write")],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/CiIn"}, "maxItems": MAX_CIS}
                    },
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def put_cis(request: Request) -> UpsertResult:
        ctype, body = await read_body(request, max_bytes, ("application/json", "text/csv"))
        # Parsing and checking 100,000 rows takes seconds of CPU: off the event loop.
        try:
            if ctype == "text/csv":
                if b"\x00" in body:
                    raise invalid("body", "contains a NUL character, which cannot be stored")
                cis, rels, origins = await asyncio.to_thread(cis_from_csv, body)
            else:
                cis, rels, origins = await asyncio.to_thread(cis_from_json, parse_json_array(body))
        except TooManyCis as exc:
            raise ApiError(413, "too_large", exc.reason, [FieldError(field=exc.field, reason=exc.reason)]) from None
        except ImportInvalid as exc:
            raise invalid(exc.field, exc.reason) from None
        if not cis:
            raise invalid("body", "no CIs given")
        conn_pool = db()
        async with conn_pool.acquire() as conn, conn.transaction():
            # One writer at a time, so the targets found here still exist at commit (CIs are never deleted).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('triage.cmdb'))")
            outside = sorted({r.target_id for r in rels} - {c.id for c in cis})
            existing = {r["id"] for r in await conn.fetch("SELECT id FROM cis WHERE id = ANY($1::text[])", outside)}
            try:
                await asyncio.to_thread(validate, cis, rels, origins, existing)
            except ImportInvalid as exc:
                raise invalid(exc.field, exc.reason) from None
            version = await upsert(conn, cis, rels)
        await refreshed(version)
        return UpsertResult(upserted=len(cis), relationships=len(rels), version=version)

    @api.get(
        "/{ci_id}",
        response_model=CiOut,
        summary="One CI with its neighbours in both directions",
        responses=NOT_FOUND,
        dependencies=[require("read")],
    )
    async def get_ci(ci_id: str) -> CiOut:
        found = await ci_detail(db(), ci_id)
        if found is None:
            raise ApiError(404, "not_found", f"no CI {ci_id!r}", [FieldError(field="ci_id", reason="not found")])
        return found

    return api
