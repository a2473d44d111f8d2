"""Incidents in PostgreSQL (schema `ticketing`): loading a batch's context and writing its changes."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from uuid import UUID

import asyncpg

from .incident import OPEN_STATUSES, Incident, Member

INCIDENT_COLUMNS = (
    "id, number, group_key, title, description, status, priority, ci_id, alert_count, opened_at,"
    " acknowledged_at, resolved_at, closed_at, updated_at, version"
)


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


async def load_open(conn: asyncpg.Connection, group_keys: Sequence[str]) -> dict[str, Incident]:
    rows = await conn.fetch(
        "SELECT id, number, group_key, title, description, status, priority, ci_id, opened_at, updated_at,"
        " resolved_at, version FROM incidents WHERE group_key = ANY($1::text[]) AND status = ANY($2::text[])"
        " FOR UPDATE",
        list(group_keys),
        list(OPEN_STATUSES),
    )
    members = await conn.fetch(
        "SELECT incident_id, fingerprint, firing, occurrences, severity, title FROM incident_alerts"
        " WHERE incident_id = ANY($1::uuid[])",
        [r["id"] for r in rows],
    )
    by_incident: dict[UUID, dict[str, Member]] = {}
    for m in members:
        by_incident.setdefault(m["incident_id"], {})[m["fingerprint"]] = Member(
            m["fingerprint"], m["firing"], m["occurrences"], m["severity"], m["title"]
        )
    return {
        r["group_key"]: Incident(
            id=str(r["id"]),
            number=r["number"],
            group_key=r["group_key"],
            title=r["title"],
            description=r["description"],
            status=r["status"],
            priority=r["priority"],
            ci_id=r["ci_id"],
            opened_at=r["opened_at"],
            updated_at=r["updated_at"],
            resolved_at=r["resolved_at"],
            version=r["version"],
            members=by_incident.get(r["id"], {}),
        )
        for r in rows
    }


async def assign_numbers(conn: asyncpg.Connection, incidents: Sequence[Incident]) -> list[Incident]:
    """INC0000001-style numbers from a sequence (gaps after a rolled-back batch are expected)."""
    numbers = await conn.fetch(
        "SELECT 'INC' || lpad(nextval('incident_number')::text, 7, '0') AS n FROM generate_series(1, $1)",
        len(incidents),
    )
    return [replace(i, number=r["n"]) for i, r in zip(incidents, numbers, strict=True)]


async def save(conn: asyncpg.Connection, incidents: Iterable[Incident]) -> None:
    """Upsert the final state of each incident touched by a batch, with its alerts."""
    batch = list(incidents)
    if not batch:
        return
    cols = list(
        zip(
            *[
                (
                    UUID(i.id),
                    i.number,
                    i.group_key,
                    i.title,
                    i.description,
                    i.status,
                    i.priority,
                    i.ci_id,
                    i.alert_count,
                    i.opened_at,
                    i.resolved_at,
                    i.updated_at,
                    i.version,
                )
                for i in batch
            ],
            strict=True,
        )
    )
    await conn.execute(
        """
        INSERT INTO incidents (id, number, group_key, title, description, status, priority, ci_id, alert_count,
                               opened_at, resolved_at, updated_at, version)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::smallint[], $8::text[], $9::bigint[], $10::timestamptz[], $11::timestamptz[],
                             $12::timestamptz[], $13::int[])
        ON CONFLICT (id) DO UPDATE SET
            title = EXCLUDED.title, description = EXCLUDED.description, status = EXCLUDED.status,
            priority = EXCLUDED.priority, ci_id = EXCLUDED.ci_id, alert_count = EXCLUDED.alert_count,
            resolved_at = EXCLUDED.resolved_at, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version
        """,
        *cols,
    )
    members = [
        (UUID(i.id), m.fingerprint, m.firing, m.occurrences, m.severity, m.title)
        for i in batch
        for m in i.members.values()
    ]
    await conn.execute(
        """
        INSERT INTO incident_alerts (incident_id, fingerprint, firing, occurrences, severity, title)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::bigint[], $5::smallint[], $6::text[])
        ON CONFLICT (incident_id, fingerprint) DO UPDATE SET firing = EXCLUDED.firing,
            occurrences = EXCLUDED.occurrences, severity = EXCLUDED.severity, title = EXCLUDED.title
        """,
        *zip(*members, strict=True),
    )


async def append_outbox(conn: asyncpg.Connection, events: Sequence[tuple[UUID, UUID, int, str, bytes]]) -> None:
    """(event_id, incident_id, sequence, type, payload) rows, in the order they happened."""
    await conn.copy_records_to_table(
        "outbox", records=events, columns=["event_id", "incident_id", "sequence", "type", "payload"]
    )
