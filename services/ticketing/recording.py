"""Recording incident changes in the caller's transaction: numbers for new incidents, the final state, one
outbox row and one audit entry per event, work notes, and the durable SLA counts. The pipeline, the API and the
SLA timer all write through here, so every change is told the same way."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import asyncpg

from . import ledger, store
from .clocks import SlaRules
from .events import NO_CAUSE, Cause, incident_events
from .incident import Change, Incident, Member, differences, number


class Recorded(NamedTuple):
    changes: list[Change]  # as given, new incidents numbered
    written: dict[str, tuple[Incident, int]]  # each incident as written, with its row revision (incident_cache)


async def record(conn: asyncpg.Connection, changes: Sequence[tuple[Change, Cause]], rules: SlaRules) -> Recorded:
    """Write the changes (in order)."""
    if not changes:
        return Recorded([], {})
    numbered, seqs = await _numbered(conn, [c for c, _ in changes])
    final = {c.incident.id: c.incident for c in numbered}
    revisions = await store.save(conn, final.values(), seqs, _changed_alerts(numbered))
    written = {ident: (i, revisions[ident]) for ident, i in final.items()}
    outbox, history, notes = [], [], []
    for change, (_, cause) in zip(numbered, changes, strict=True):
        i = change.incident
        for n, event in enumerate(incident_events(change, rules, cause or NO_CAUSE)):
            outbox.append((uuid.UUID(event.event_id), uuid.UUID(i.id), event.sequence, event.type,
                           event.SerializeToString()))  # fmt: skip
            diff = differences(change.before, i) if n == 0 else {}
            note = change.note if n == 0 else ""
            history.append((uuid.UUID(i.id), event.sequence, i.updated_at, change.actor, event.type,
                            json.dumps(diff), note))  # fmt: skip
            if event.type == "commented":
                notes.append((uuid.UUID(i.id), i.updated_at, change.actor, change.note))
    await store.append_outbox(conn, outbox)
    await store.append_history(conn, history)
    if notes:
        await store.append_work_notes(conn, notes)
    await store.add_counts(conn, ledger.increments(numbered, rules))
    return Recorded(numbered, written)


def _changed_alerts(changes: Sequence[Change]) -> list[tuple[str, Member]]:
    """Each incident's alerts that differ from what it was loaded with (its first change's `before`)."""
    loaded: dict[str, Incident | None] = {}
    final: dict[str, Incident] = {}
    for c in changes:
        loaded.setdefault(c.incident.id, c.before)
        final[c.incident.id] = c.incident
    changed = []
    for ident, i in final.items():
        original = loaded[ident]
        before = original.members if original is not None else {}
        if i.members is not before:  # an alert the incident was loaded with and kept is the same object
            changed += [(ident, m) for fp, m in i.members.items() if (b := before.get(fp)) is not m and b != m]
    return changed


async def _numbered(conn: asyncpg.Connection, changes: list[Change]) -> tuple[list[Change], dict[str, int]]:
    new_ids = list(dict.fromkeys(c.incident.id for c in changes if c.incident.number is None))
    if not new_ids:
        return changes, {}
    seqs = dict(zip(new_ids, await store.next_numbers(conn, len(new_ids)), strict=True))

    def with_number(i: Incident | None) -> Incident | None:
        return replace(i, number=number(seqs[i.id])) if i is not None and i.number is None else i

    out = [replace(c, before=with_number(c.before), incident=with_number(c.incident)) for c in changes]
    return out, seqs
