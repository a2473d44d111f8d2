"""Incidents in PostgreSQL (schema `ticketing`): loading what a batch, an action or the SLA timer needs, and
writing changes — state, outbox, audit trail, work notes, durable counts — in the caller's transaction."""

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from .incident import OPEN_STATUSES, Incident, Member
from .incident_cache import IncidentCache

_FIELDS = (
    "id, number, seq, group_key, title, description, status, priority, impact, urgency, ci_id, ci_name,"
    " affected_ci_ids, service, assignment_group, assignee, known_error_id, workaround, change_id, during_change,"
    " flapping, previous_incident_id, resolution_code, resolution_notes, alert_count, opened_at, acknowledged_at,"
    " responded_at, resolved_at, closed_at, updated_at, pauses, response_reached,"
    " resolution_reached, sla_check_at, version, counted_to"
)
INCIDENT_COLUMNS = _FIELDS
_MEMBER_FIELDS = (
    "incident_id, fingerprint, firing, occurrences, severity, title, ci_id, ci_criticality, service, flapping,"
    " first_seen"
)


def incident_of(row: Mapping, members: Mapping[str, Member] | None = None) -> Incident:
    return Incident(
        id=str(row["id"]),
        number=row["number"],
        group_key=row["group_key"],
        title=row["title"],
        description=row["description"],
        status=row["status"],
        priority=row["priority"],
        impact=row["impact"],
        urgency=row["urgency"],
        ci_id=row["ci_id"],
        ci_name=row["ci_name"],
        affected_ci_ids=tuple(sorted(row["affected_ci_ids"])),
        service=row["service"],
        assignment_group=row["assignment_group"],
        assignee=row["assignee"],
        known_error_id=row["known_error_id"],
        workaround=row["workaround"],
        change_id=row["change_id"],
        during_change=row["during_change"],
        flapping=row["flapping"],
        previous_incident_id=str(row["previous_incident_id"]) if row["previous_incident_id"] else None,
        resolution_code=row["resolution_code"],
        resolution_notes=row["resolution_notes"],
        alert_count=row["alert_count"],
        opened_at=row["opened_at"],
        acknowledged_at=row["acknowledged_at"],
        responded_at=row["responded_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
        updated_at=row["updated_at"],
        pauses=_pauses(row["pauses"]),
        response_reached=row["response_reached"],
        resolution_reached=row["resolution_reached"],
        sla_check_at=row["sla_check_at"],
        version=row["version"],
        counted_to=row["counted_to"],
        members=members or {},
    )


def _pauses(text: str) -> tuple[tuple[datetime, datetime | None], ...]:
    return tuple((datetime.fromisoformat(s), datetime.fromisoformat(e) if e else None) for s, e in json.loads(text))


async def _with_members(conn: asyncpg.Connection, rows: Sequence[Mapping]) -> list[Incident]:
    members = await conn.fetch(
        f"SELECT {_MEMBER_FIELDS} FROM incident_alerts WHERE incident_id = ANY($1::uuid[])",  # noqa: S608
        [r["id"] for r in rows],
    )
    by_incident: dict[UUID, dict[str, Member]] = {}
    for m in members:
        by_incident.setdefault(m["incident_id"], {})[m["fingerprint"]] = Member(
            m["fingerprint"],
            m["firing"],
            m["occurrences"],
            m["severity"],
            m["title"],
            m["ci_id"],
            m["ci_criticality"],
            m["service"],
            m["flapping"],
            m["first_seen"],
        )
    return [incident_of(r, by_incident.get(r["id"], {})) for r in rows]


async def load_sequences(conn: asyncpg.Connection, fingerprints: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT fingerprint, last_sequence FROM alert_sequences WHERE fingerprint = ANY($1::text[])",
        list(fingerprints),
    )
    return {r["fingerprint"]: r["last_sequence"] for r in rows}


async def save_sequences(conn: asyncpg.Connection, sequences: Mapping[str, int]) -> None:
    await conn.execute(
        "INSERT INTO alert_sequences (fingerprint, last_sequence) SELECT * FROM unnest($1::text[], $2::bigint[])"
        " ON CONFLICT (fingerprint) DO UPDATE SET last_sequence = GREATEST(alert_sequences.last_sequence,"
        " EXCLUDED.last_sequence)",
        list(sequences),
        list(sequences.values()),
    )


async def load_latest(conn: asyncpg.Connection, group_keys: Sequence[str], cache: IncidentCache) -> dict[str, Incident]:
    """Each group's latest incident, locked for the batch. Only its revision is read when `cache` holds it at
    that revision; otherwise it is read whole, with its alerts, and held."""
    heads = await conn.fetch(
        "SELECT id, group_key, revision FROM incidents WHERE id IN ("
        " SELECT DISTINCT ON (group_key) id FROM incidents WHERE group_key = ANY($1::text[])"
        " ORDER BY group_key, seq DESC) FOR UPDATE",
        list(group_keys),
    )
    found: dict[str, Incident] = {}
    unheld: dict[UUID, int] = {}
    for h in heads:
        held = cache.get(str(h["id"]), h["revision"])
        if held is not None:
            found[h["group_key"]] = held
        else:
            unheld[h["id"]] = h["revision"]
    if unheld:
        rows = await conn.fetch(
            f"SELECT {_FIELDS} FROM incidents WHERE id = ANY($1::uuid[])",  # noqa: S608 - constant column list
            list(unheld),
        )
        for i in await _with_members(conn, rows):
            found[i.group_key] = i
            cache.put(i, unheld[UUID(i.id)])
    return found


async def load_one(conn: asyncpg.Connection, ref: str, lock: bool = False) -> Incident | None:
    """By id or number (INC0000001)."""
    try:
        ident: object = UUID(ref)
        where = "id = $1::uuid"
    except ValueError:
        ident, where = ref.upper(), "number = $1"
    row = await conn.fetchrow(
        f"SELECT {_FIELDS} FROM incidents WHERE {where}" + (" FOR UPDATE" if lock else ""),  # noqa: S608
        ident,
    )
    return (await _with_members(conn, [row]))[0] if row else None


async def load_sla_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[Incident]:
    """Incidents whose next SLA threshold has come, oldest first; others' instances skip them."""
    rows = await conn.fetch(
        f"SELECT {_FIELDS} FROM incidents WHERE sla_check_at <= $1"  # noqa: S608
        " ORDER BY sla_check_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return await _with_members(conn, rows)


async def load_to_close(conn: asyncpg.Connection, resolved_before: datetime, limit: int) -> list[Incident]:
    rows = await conn.fetch(
        f"SELECT {_FIELDS} FROM incidents WHERE status = 'resolved' AND resolved_at <= $1"  # noqa: S608
        " ORDER BY resolved_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        resolved_before,
        limit,
    )
    return await _with_members(conn, rows)


async def next_numbers(conn: asyncpg.Connection, count: int) -> list[int]:
    rows = await conn.fetch("SELECT nextval('incident_number') AS n FROM generate_series(1, $1)", count)
    return [r["n"] for r in rows]


async def save(
    conn: asyncpg.Connection,
    incidents: Iterable[Incident],
    seqs: Mapping[str, int],
    members: Iterable[tuple[str, Member]] = (),
) -> dict[str, int]:
    """Upsert the final state of each incident a transaction touched, and the given (incident id, alert) rows
    (only the alerts that changed: a big incident is not rewritten for each repeat of one alert). `seqs` gives
    new incidents their number's sequence value. Returns each incident's revision as written."""
    batch = list(incidents)
    if not batch:
        return {}
    rows = [_row(i, seqs.get(i.id, 0)) for i in batch]
    revisions = {str(r["id"]): r["revision"] for r in await conn.fetch(_UPSERT, *zip(*rows, strict=True))}
    alerts = [
        (UUID(incident_id), m.fingerprint, m.firing, m.occurrences, m.severity, m.title, m.ci_id, m.ci_criticality,
         m.service, m.flapping, m.first_seen)
        for incident_id, m in members
    ]  # fmt: skip
    if alerts:
        await conn.execute(_UPSERT_MEMBERS, *zip(*alerts, strict=True))
    return revisions


def _row(i: Incident, seq: int) -> tuple:
    return (
        UUID(i.id), i.number, seq, i.group_key, i.title, i.description, i.status, i.priority, i.impact, i.urgency,
        i.ci_id, i.ci_name, json.dumps(list(i.affected_ci_ids)), i.service, i.assignment_group, i.assignee,
        i.known_error_id, i.workaround, i.change_id, i.during_change, i.flapping,
        UUID(i.previous_incident_id) if i.previous_incident_id else None, i.resolution_code, i.resolution_notes,
        i.alert_count, i.opened_at, i.acknowledged_at, i.responded_at, i.resolved_at, i.closed_at, i.updated_at,
        json.dumps([[s.isoformat(), e.isoformat() if e else None] for s, e in i.pauses]),
        i.response_reached, i.resolution_reached, i.sla_check_at, i.version, i.counted_to,
    )  # fmt: skip


# Lists do not unnest per row, so each incident's lists travel as JSON text.
_UPSERT = """
INSERT INTO incidents (id, number, seq, group_key, title, description, status, priority, impact, urgency, ci_id,
    ci_name, affected_ci_ids, service, assignment_group, assignee, known_error_id, workaround, change_id,
    during_change, flapping, previous_incident_id, resolution_code, resolution_notes, alert_count, opened_at,
    acknowledged_at, responded_at, resolved_at, closed_at, updated_at, pauses, response_reached,
    resolution_reached, sla_check_at, version, counted_to)
SELECT u.id, u.number, u.seq, u.group_key, u.title, u.description, u.status, u.priority, u.impact, u.urgency,
    u.ci_id, u.ci_name, ARRAY(SELECT jsonb_array_elements_text(u.affected::jsonb)), u.service, u.assignment_group,
    u.assignee, u.known_error_id, u.workaround, u.change_id, u.during_change, u.flapping, u.previous_incident_id,
    u.resolution_code, u.resolution_notes, u.alert_count, u.opened_at, u.acknowledged_at, u.responded_at,
    u.resolved_at, u.closed_at, u.updated_at, u.pauses::jsonb, u.response_reached, u.resolution_reached,
    u.sla_check_at, u.version, u.counted_to
FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::smallint[],
    $9::smallint[], $10::smallint[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
    $17::text[], $18::text[], $19::text[], $20::bool[], $21::bool[], $22::uuid[], $23::text[], $24::text[],
    $25::bigint[], $26::timestamptz[], $27::timestamptz[], $28::timestamptz[], $29::timestamptz[],
    $30::timestamptz[], $31::timestamptz[], $32::text[], $33::float8[], $34::float8[], $35::timestamptz[],
    $36::int[], $37::bigint[])
    AS u(id, number, seq, group_key, title, description, status, priority, impact, urgency, ci_id, ci_name, affected,
         service, assignment_group, assignee, known_error_id, workaround, change_id, during_change, flapping,
         previous_incident_id, resolution_code, resolution_notes, alert_count, opened_at, acknowledged_at,
         responded_at, resolved_at, closed_at, updated_at, pauses, response_reached, resolution_reached,
         sla_check_at, version, counted_to)
ON CONFLICT (id) DO UPDATE SET
    title = EXCLUDED.title, description = EXCLUDED.description, status = EXCLUDED.status,
    priority = EXCLUDED.priority, impact = EXCLUDED.impact, urgency = EXCLUDED.urgency, ci_id = EXCLUDED.ci_id,
    ci_name = EXCLUDED.ci_name, affected_ci_ids = EXCLUDED.affected_ci_ids, service = EXCLUDED.service,
    assignment_group = EXCLUDED.assignment_group, assignee = EXCLUDED.assignee,
    known_error_id = EXCLUDED.known_error_id, workaround = EXCLUDED.workaround, change_id = EXCLUDED.change_id,
    during_change = EXCLUDED.during_change, flapping = EXCLUDED.flapping,
    resolution_code = EXCLUDED.resolution_code, resolution_notes = EXCLUDED.resolution_notes,
    alert_count = EXCLUDED.alert_count, acknowledged_at = EXCLUDED.acknowledged_at,
    responded_at = EXCLUDED.responded_at, resolved_at = EXCLUDED.resolved_at, closed_at = EXCLUDED.closed_at,
    updated_at = EXCLUDED.updated_at, pauses = EXCLUDED.pauses,
    response_reached = EXCLUDED.response_reached, resolution_reached = EXCLUDED.resolution_reached,
    sla_check_at = EXCLUDED.sla_check_at, version = EXCLUDED.version, counted_to = EXCLUDED.counted_to,
    revision = incidents.revision + 1
RETURNING id, revision
"""

_UPSERT_MEMBERS = f"""
INSERT INTO incident_alerts ({_MEMBER_FIELDS})
SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::bigint[], $5::smallint[], $6::text[], $7::text[],
                     $8::smallint[], $9::text[], $10::bool[], $11::timestamptz[])
ON CONFLICT (incident_id, fingerprint) DO UPDATE SET firing = EXCLUDED.firing,
    occurrences = EXCLUDED.occurrences, severity = EXCLUDED.severity, title = EXCLUDED.title,
    ci_id = EXCLUDED.ci_id, ci_criticality = EXCLUDED.ci_criticality, service = EXCLUDED.service,
    flapping = EXCLUDED.flapping, first_seen = EXCLUDED.first_seen
"""  # noqa: S608 - constant column list


async def append_outbox(conn: asyncpg.Connection, events: Sequence[tuple[UUID, UUID, int, str, bytes]]) -> None:
    """(event_id, incident_id, sequence, type, payload) rows, in the order they happened."""
    await conn.copy_records_to_table(
        "outbox", records=events, columns=["event_id", "incident_id", "sequence", "type", "payload"]
    )


async def append_history(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    """(incident_id, version, at, actor, type, changes JSON text, note) rows."""
    await conn.copy_records_to_table(
        "incident_history", records=rows, columns=["incident_id", "version", "at", "actor", "type", "changes", "note"]
    )


async def append_work_notes(conn: asyncpg.Connection, rows: Sequence[tuple[UUID, datetime, str, str]]) -> None:
    await conn.copy_records_to_table("work_notes", records=rows, columns=["incident_id", "at", "author", "text"])


async def add_counts(conn: asyncpg.Connection, counts: Counter) -> None:
    """Add to the durable metric samples ((name, labels) -> amount)."""
    if not counts:
        return
    keys = list(counts)
    await conn.execute(
        "INSERT INTO metric_counts (name, labels, value)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::float8[])"
        " ON CONFLICT (name, labels) DO UPDATE SET value = metric_counts.value + EXCLUDED.value",
        [name for name, _ in keys],
        [json.dumps([list(pair) for pair in labels]) for _, labels in keys],
        [float(counts[k]) for k in keys],
    )


async def open_statuses_count(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT priority, status, service, count(*) AS n FROM incidents WHERE status = ANY($1::text[])"
        " GROUP BY priority, status, service",
        list(OPEN_STATUSES),
    )
