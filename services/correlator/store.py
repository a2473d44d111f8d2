"""The correlator's state in PostgreSQL (schema `correlator`): alerts, open group instances, heartbeats,
and the reference data (CMDB, known errors, changes, windows) read into a Snapshot."""

import asyncio
import functools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import asyncpg
import orjson

from .cmdb import CI, Cmdb, Relationship
from .correlation import OpenGroup, Tracked
from .dedup import AlertState
from .flapping import FlapState
from .grouping import GroupInstance, GroupKey
from .heartbeats import Heartbeat
from .known_errors import KnownError, KnownErrorCatalog
from .windows import Change, MaintenanceWindow, WindowIndex

CONFIG_CHANNEL = "correlator_config"

_COLUMNS = (
    "fingerprint, firing, severity, title, description, source, labels, first_seen, last_seen,"
    " occurrences, sequence, recent_event_ids, group_key, grouping_key, ci_id, binding, root_ci_id,"
    " known_error_id, change_id, window_id, suppressed, during_change, flap, announced, expires_at, expired, tell_at"
)


async def load(conn: asyncpg.Connection, fingerprints: Sequence[str]) -> dict[str, Tracked]:
    # FOR UPDATE: should two instances ever overlap during a rebalance, the second waits for the first.
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM alerts WHERE fingerprint = ANY($1::text[]) FOR UPDATE",  # noqa: S608
        list(fingerprints),
    )
    return {r["fingerprint"]: tracked(r) for r in rows}


async def load_due(
    conn: asyncpg.Connection, now: datetime, limit: int, quiet_since: datetime | None = None
) -> list[tuple[Tracked, bool]]:
    """Alerts whose expiry time or held repeat's time has come, or holding a repeat and not written since
    `quiet_since` (wall clock: quiet, whatever their own times say), each with whether it is quiet; locked, and
    rows another transaction holds are left for later."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, tell_at IS NOT NULL AND updated_at <= $3 AS quiet FROM alerts"  # noqa: S608
        " WHERE expires_at <= $1 OR tell_at <= $1 OR (tell_at IS NOT NULL AND updated_at <= $3)"
        " ORDER BY LEAST(expires_at, tell_at) LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
        quiet_since,
    )
    return [(tracked(r), r["quiet"]) for r in rows]


def tracked(r: asyncpg.Record) -> Tracked:
    alert = AlertState(
        fingerprint=r["fingerprint"],
        firing=r["firing"],
        severity=r["severity"],
        title=r["title"],
        description=r["description"],
        source=r["source"],
        labels=orjson.loads(r["labels"]),
        first_seen=r["first_seen"],
        last_seen=r["last_seen"],
        occurrences=r["occurrences"],
        sequence=r["sequence"],
        recent_event_ids=tuple(orjson.loads(r["recent_event_ids"])),
    )
    return Tracked(
        alert=alert,
        ci_id=r["ci_id"],
        binding=r["binding"],
        group_key=r["grouping_key"],
        group_id=r["group_key"],
        root_ci_id=r["root_ci_id"],
        known_error_id=r["known_error_id"],
        change_id=r["change_id"],
        window_id=r["window_id"],
        suppressed=r["suppressed"],
        during_change=r["during_change"],
        flap=flap_of(r["flap"]),
        announced=r["announced"],
        expires_at=r["expires_at"],
        expired=r["expired"],
        tell_at=r["tell_at"],
    )


@functools.lru_cache(maxsize=4096)
def flap_of(text: str) -> FlapState:
    """The flap state stored as `text`. Remembered: most alerts never flapped, so a batch's rows hold a handful of
    distinct texts, and a FlapState is immutable; reading each row's anew was ~3 % of the correlator's CPU."""
    return _flap(orjson.loads(text))


def _flap(raw: dict) -> FlapState:
    if not raw:
        return FlapState()
    last = raw.get("last_change_at")
    return FlapState(
        status=raw.get("status"),
        changes=tuple(datetime.fromisoformat(t) for t in raw.get("changes", ())),
        last_change_at=datetime.fromisoformat(last) if last else None,
        flapping=bool(raw.get("flapping")),
    )


def _flap_json(flap: FlapState) -> str:
    # orjson writes datetimes as isoformat() does (RFC 3339, offset and microseconds kept), in C.
    return orjson.dumps(
        {
            "status": flap.status,
            "changes": flap.changes,
            "last_change_at": flap.last_change_at,
            "flapping": flap.flapping,
        }
    ).decode()


def state_row(t: Tracked) -> tuple:
    """The row `save` writes for a state, an `alert_state_row` (migration 008; JSON columns as text)."""
    return (
        t.alert.fingerprint,
        t.alert.firing,
        t.alert.severity,
        t.alert.title,
        t.alert.description,
        t.alert.source,
        orjson.dumps(dict(t.alert.labels)).decode(),
        t.alert.first_seen,
        t.alert.last_seen,
        t.alert.occurrences,
        t.alert.sequence,
        orjson.dumps(t.alert.recent_event_ids).decode(),
        t.group_id or f"alert:{t.alert.fingerprint}",
        t.group_key,
        t.ci_id,
        t.binding,
        t.root_ci_id,
        t.known_error_id,
        t.change_id,
        t.window_id,
        t.suppressed,
        t.during_change,
        _flap_json(t.flap),
        t.announced,
        t.expires_at,
        t.expired,
        t.tell_at,
    )


async def save(conn: asyncpg.Connection, states: Sequence[Tracked]) -> None:
    """Upsert every state in one statement, the rows as one array of `alert_state_row`."""
    if not states:
        return
    await conn.execute(
        """
        INSERT INTO alerts (fingerprint, firing, severity, title, description, source, labels, first_seen,
                            last_seen, occurrences, sequence, recent_event_ids, group_key, grouping_key, ci_id,
                            binding, root_ci_id, known_error_id, change_id, window_id, suppressed, during_change,
                            flap, announced, expires_at, expired, tell_at)
        SELECT fingerprint, firing, severity, title, description, source, labels::jsonb, first_seen, last_seen,
               occurrences, sequence, recent_event_ids::jsonb, group_key, grouping_key, ci_id, binding, root_ci_id,
               known_error_id, change_id, window_id, suppressed, during_change, flap::jsonb, announced, expires_at,
               expired, tell_at
        FROM unnest($1::alert_state_row[])
        ON CONFLICT (fingerprint) DO UPDATE SET
            firing = EXCLUDED.firing, severity = EXCLUDED.severity, title = EXCLUDED.title,
            description = EXCLUDED.description, source = EXCLUDED.source, labels = EXCLUDED.labels,
            first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, occurrences = EXCLUDED.occurrences,
            sequence = EXCLUDED.sequence, recent_event_ids = EXCLUDED.recent_event_ids,
            group_key = EXCLUDED.group_key, grouping_key = EXCLUDED.grouping_key, ci_id = EXCLUDED.ci_id,
            binding = EXCLUDED.binding, root_ci_id = EXCLUDED.root_ci_id, known_error_id = EXCLUDED.known_error_id,
            change_id = EXCLUDED.change_id, window_id = EXCLUDED.window_id, suppressed = EXCLUDED.suppressed,
            during_change = EXCLUDED.during_change, flap = EXCLUDED.flap, announced = EXCLUDED.announced,
            expires_at = EXCLUDED.expires_at, expired = EXCLUDED.expired, tell_at = EXCLUDED.tell_at,
            updated_at = now()
        """,
        [state_row(t) for t in states],
    )


async def save_links(conn: asyncpg.Connection, states: Sequence[Tracked]) -> None:
    """Record each alert's link to the change or window covering it (first link time kept), with the group
    instance it was in and the group key it was emitted under (the incident's key in ticketing)."""
    links = [
        (
            "change" if t.change_id else "maintenance",
            t.change_id or t.window_id,
            t.alert.fingerprint,
            t.group_id,
            t.incident_key,
            t.suppressed,
            t.alert.last_seen,
        )
        for t in states
        if (t.change_id or t.window_id) and t.group_id
    ]
    if not links:
        return
    await conn.execute(
        """
        INSERT INTO window_links (window_kind, window_id, fingerprint, group_key, incident_key, suppressed, linked_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
                             $7::timestamptz[])
        ON CONFLICT (window_kind, window_id, fingerprint, group_key) DO UPDATE SET suppressed = EXCLUDED.suppressed
        """,
        *zip(*links, strict=True),
    )


async def linked_alerts(conn: asyncpg.Connection | asyncpg.Pool, kind: str, window_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT l.fingerprint, l.incident_key AS group_key, l.group_key AS group_instance, a.ci_id, a.firing,"
        " l.suppressed, a.during_change, a.title, l.linked_at"
        " FROM window_links l JOIN alerts a USING (fingerprint)"
        " WHERE l.window_kind = $1 AND l.window_id = $2 ORDER BY l.incident_key, l.group_key, l.fingerprint",
        kind,
        window_id,
    )


async def linked_groups(conn: asyncpg.Connection | asyncpg.Pool, kind: str, window_id: str) -> list[asyncpg.Record]:
    """Per group key: how many of its alerts the window explains, how many of them it suppressed."""
    return await conn.fetch(
        """
        SELECT l.incident_key AS group_key, max(a.root_ci_id) AS root_ci_id,
               count(DISTINCT l.fingerprint) AS alerts,
               count(DISTINCT l.fingerprint) FILTER (WHERE l.suppressed) AS suppressed,
               count(DISTINCT l.fingerprint) FILTER (WHERE a.firing) AS firing,
               min(l.linked_at) AS first_linked_at, max(l.linked_at) AS last_linked_at
        FROM window_links l JOIN alerts a USING (fingerprint)
        WHERE l.window_kind = $1 AND l.window_id = $2
        GROUP BY l.incident_key ORDER BY l.incident_key
        """,
        kind,
        window_id,
    )


_CLAIMED = ""  # instance_id of a row claimed for a key that no instance has opened yet: read as no group
_GROUPS = (
    "SELECT group_key, instance_id, root_ci_id, opened_at, last_at, affected, occurrences FROM group_instances"
    " WHERE group_key = ANY($1::text[])"
)
_GROUPS_LOCKED = _GROUPS + " ORDER BY group_key FOR UPDATE"
_CLAIM_GROUPS = (
    "INSERT INTO group_instances (group_key, instance_id, opened_at, last_at)"
    " SELECT k, $2, 'epoch', 'epoch' FROM unnest($1::text[]) AS k ORDER BY k"
    " ON CONFLICT (group_key) DO NOTHING RETURNING group_key"
)


async def load_groups(conn: asyncpg.Connection, keys: Iterable[str], lock: bool = True) -> dict[str, OpenGroup]:
    """The open group of each key that has one. A reader (the expiry sweep) takes no lock. A caller that will
    write them back gets them locked, in key order (two instances locking overlapping keys queue; the rare cycle
    a claim can still close, PostgreSQL breaks as a deadlock and the batch is retried), and each key without a
    row is claimed by inserting one: another instance opening the same group at once (its alerts sit in other
    partitions) then waits for this transaction and continues the group this one opens, instead of writing its
    own instance and count over it."""
    wanted = list(set(keys))
    if not lock:
        return _open_groups(await conn.fetch(_GROUPS, wanted))
    rows = await conn.fetch(_GROUPS_LOCKED, wanted)
    missing = set(wanted) - {r["group_key"] for r in rows}
    if missing:
        claimed = await conn.fetch(_CLAIM_GROUPS, list(missing), _CLAIMED)
        # The insert waited for any instance inserting the same key; what it found, that instance committed.
        if taken := list(missing - {r["group_key"] for r in claimed}):
            rows += await conn.fetch(_GROUPS_LOCKED, taken)
    return _open_groups(rows)


def _open_groups(rows: Iterable[asyncpg.Record]) -> dict[str, OpenGroup]:
    return {
        r["group_key"]: OpenGroup(
            GroupInstance(r["instance_id"], GroupKey(r["group_key"], r["root_ci_id"]), r["opened_at"], r["last_at"]),
            frozenset(r["affected"]),
            r["occurrences"],
        )
        for r in rows
        if r["instance_id"] != _CLAIMED
    }


async def save_groups(conn: asyncpg.Connection, groups: Sequence[OpenGroup]) -> None:
    if not groups:
        return
    await conn.execute(
        """
        INSERT INTO group_instances (group_key, instance_id, root_ci_id, opened_at, last_at, affected, occurrences)
        SELECT k, i, r, o, l, ARRAY(SELECT jsonb_array_elements_text(a::jsonb)), n
        FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[],
                    $7::bigint[])
             AS u(k, i, r, o, l, a, n)
        ON CONFLICT (group_key) DO UPDATE SET instance_id = EXCLUDED.instance_id, root_ci_id = EXCLUDED.root_ci_id,
            opened_at = EXCLUDED.opened_at, last_at = EXCLUDED.last_at, affected = EXCLUDED.affected,
            occurrences = EXCLUDED.occurrences
        """,
        *zip(
            *[
                (
                    g.instance.key.key,
                    g.instance.id,
                    g.instance.key.root_ci_id,
                    g.instance.opened_at,
                    g.instance.last_at,
                    orjson.dumps(sorted(g.affected)).decode(),
                    g.occurrences,
                )
                for g in groups
            ],
            strict=True,
        ),
    )


_HEARTBEAT_COLUMNS = "name, interval_seconds, last_beat_at, labels, summary, missed"


def _heartbeat(r: asyncpg.Record) -> Heartbeat:
    return Heartbeat(
        r["name"],
        timedelta(seconds=r["interval_seconds"]),
        r["last_beat_at"],
        orjson.loads(r["labels"]),
        r["summary"],
        r["missed"],
    )


async def load_heartbeats(conn: asyncpg.Connection, names: Iterable[str]) -> dict[str, Heartbeat]:
    rows = await conn.fetch(
        f"SELECT {_HEARTBEAT_COLUMNS} FROM heartbeats WHERE name = ANY($1::text[]) FOR UPDATE",  # noqa: S608
        list(set(names)),
    )
    return {r["name"]: _heartbeat(r) for r in rows}


async def load_overdue_heartbeats(conn: asyncpg.Connection, now: datetime, limit: int) -> list[Heartbeat]:
    rows = await conn.fetch(
        f"SELECT {_HEARTBEAT_COLUMNS} FROM heartbeats"  # noqa: S608
        " WHERE NOT missed AND last_beat_at + make_interval(secs => interval_seconds) <= $1"
        " LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [_heartbeat(r) for r in rows]


async def save_heartbeats(conn: asyncpg.Connection, beats: Sequence[Heartbeat]) -> None:
    if not beats:
        return
    await conn.execute(
        """
        INSERT INTO heartbeats (name, interval_seconds, last_beat_at, labels, summary, missed)
        SELECT n, i, l, lb::jsonb, s, m
        FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::bool[])
             AS u(n, i, l, lb, s, m)
        ON CONFLICT (name) DO UPDATE SET interval_seconds = EXCLUDED.interval_seconds,
            last_beat_at = EXCLUDED.last_beat_at, labels = EXCLUDED.labels, summary = EXCLUDED.summary,
            missed = EXCLUDED.missed
        """,
        *zip(
            *[
                (
                    b.name,
                    int(b.interval.total_seconds()),
                    b.last_beat_at,
                    orjson.dumps(dict(b.labels)).decode(),
                    b.summary,
                    b.missed,
                )
                for b in beats
            ],
            strict=True,
        ),
    )


# --- reference data -------------------------------------------------------------------------------------


async def cmdb_version(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return await conn.fetchval("SELECT version FROM cmdb_version")


async def bump_version(conn: asyncpg.Connection) -> int:
    """Inside the writing transaction: the version moves and listeners hear of it at commit."""
    version = await conn.fetchval("UPDATE cmdb_version SET version = version + 1, updated_at = now() RETURNING version")
    await conn.execute("SELECT pg_notify($1, $2)", CONFIG_CHANNEL, str(version))
    return version


async def load_reference(
    conn: asyncpg.Connection,
) -> tuple[int, Cmdb, KnownErrorCatalog, dict[str, KnownError], WindowIndex]:
    """One consistent read (repeatable read) of everything the snapshot holds, built off the event loop (a
    100,000-CI CMDB takes seconds of CPU)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        version = await cmdb_version(conn)
        ci_rows = await conn.fetch(
            "SELECT id, name, class, environment, criticality, support_group, aliases, attributes::text AS attrs"
            " FROM cis"
        )
        rel_rows = await conn.fetch("SELECT source_id, kind, target_id FROM relationships")
        ke_rows = await conn.fetch("SELECT record::text AS record FROM known_errors ORDER BY id")
        change_rows = await conn.fetch(
            "SELECT id, ci_ids, planned_start, planned_end, state, policy FROM changes"
            " WHERE planned_end > now() - interval '30 days'"
        )
        window_rows = await conn.fetch(
            "SELECT id, ci_ids, starts_at, ends_at, policy FROM maintenance_windows"
            " WHERE ends_at > now() - interval '30 days'"
        )
    built = await asyncio.to_thread(_reference, ci_rows, rel_rows, ke_rows, change_rows, window_rows)
    return (version, *built)


def _reference(
    ci_rows: list[asyncpg.Record],
    rel_rows: list[asyncpg.Record],
    ke_rows: list[asyncpg.Record],
    change_rows: list[asyncpg.Record],
    window_rows: list[asyncpg.Record],
) -> tuple[Cmdb, KnownErrorCatalog, dict[str, KnownError], WindowIndex]:
    cmdb = Cmdb.build(
        (
            CI(
                r["id"],
                r["name"],
                r["class"],
                r["environment"],
                r["criticality"],
                r["support_group"],
                tuple(r["aliases"]),
                orjson.loads(r["attrs"]),
            )
            for r in ci_rows
        ),
        (Relationship(r["source_id"], r["kind"], r["target_id"]) for r in rel_rows),
    )
    records = [orjson.loads(r["record"]) for r in ke_rows]
    catalog = KnownErrorCatalog.build(records)
    by_id = {r["id"]: known_error(r) for r in records}
    changes = [
        Change(r["id"], tuple(r["ci_ids"]), r["planned_start"], r["planned_end"], r["state"], r["policy"])
        for r in change_rows
    ]
    windows = [
        MaintenanceWindow(r["id"], tuple(r["ci_ids"]), r["starts_at"], r["ends_at"], r["policy"]) for r in window_rows
    ]
    return cmdb, catalog, by_id, WindowIndex.build(changes, windows, cmdb)


def known_error(record: dict) -> KnownError:
    """What an emission carries of a known error (its matchers live in the catalogue)."""
    return KnownError(
        record["id"],
        str(record.get("title", "")),
        (),
        str(record.get("workaround") or ""),
        str(record.get("problem_ref") or ""),
    )
