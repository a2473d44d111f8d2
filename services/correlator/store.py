"""The correlator's alert state in PostgreSQL (schema `correlator`)."""

import json
from collections.abc import Sequence

import asyncpg

from .dedup import AlertState

_COLUMNS = (
    "fingerprint, firing, severity, title, description, source, labels, first_seen, last_seen,"
    " occurrences, sequence, recent_event_ids"
)


async def load(conn: asyncpg.Connection, fingerprints: Sequence[str]) -> dict[str, AlertState]:
    # FOR UPDATE: should two instances ever overlap during a rebalance, the second waits for the first.
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM alerts WHERE fingerprint = ANY($1::text[]) FOR UPDATE",  # noqa: S608
        list(fingerprints),
    )
    return {r["fingerprint"]: _state(r) for r in rows}


def _state(r: asyncpg.Record) -> AlertState:
    return AlertState(
        fingerprint=r["fingerprint"],
        firing=r["firing"],
        severity=r["severity"],
        title=r["title"],
        description=r["description"],
        source=r["source"],
        labels=json.loads(r["labels"]),
        first_seen=r["first_seen"],
        last_seen=r["last_seen"],
        occurrences=r["occurrences"],
        sequence=r["sequence"],
        recent_event_ids=tuple(r["recent_event_ids"]),
    )


async def save(conn: asyncpg.Connection, states: Sequence[tuple[AlertState, str]]) -> None:
    """Upsert (state, group key) pairs in one statement."""
    if not states:
        return
    cols = list(
        zip(
            *[
                (
                    s.fingerprint,
                    s.firing,
                    s.severity,
                    s.title,
                    s.description,
                    s.source,
                    json.dumps(s.labels),
                    s.first_seen,
                    s.last_seen,
                    s.occurrences,
                    s.sequence,
                    json.dumps(s.recent_event_ids),
                    key,
                )
                for s, key in states
            ],
            strict=True,
        )
    )
    await conn.execute(
        """
        INSERT INTO alerts (fingerprint, firing, severity, title, description, source, labels, first_seen,
                            last_seen, occurrences, sequence, recent_event_ids, group_key)
        SELECT f, fi, sev, t, d, src, l::jsonb, fs, ls, o, seq,
               ARRAY(SELECT jsonb_array_elements_text(r::jsonb)), g
        FROM unnest($1::text[], $2::bool[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::bigint[], $12::text[], $13::text[])
             AS u(f, fi, sev, t, d, src, l, fs, ls, o, seq, r, g)
        ON CONFLICT (fingerprint) DO UPDATE SET
            firing = EXCLUDED.firing, severity = EXCLUDED.severity, title = EXCLUDED.title,
            description = EXCLUDED.description, source = EXCLUDED.source, labels = EXCLUDED.labels,
            first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, occurrences = EXCLUDED.occurrences,
            sequence = EXCLUDED.sequence, recent_event_ids = EXCLUDED.recent_event_ids,
            group_key = EXCLUDED.group_key, updated_at = now()
        """,
        *cols,
    )
