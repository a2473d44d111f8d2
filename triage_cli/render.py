"""Incidents as text for people: a table for lists, a page for one incident, one line for an action's result.
Pure functions of the API's JSON and the current time."""

import json
from datetime import UTC, datetime
from typing import Any

_LIVE = ("in_progress", "warning", "breached")


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def when(text: str | None) -> str:
    at = instant(text)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if at else "-"


def span(seconds: float) -> str:
    """3725 -> '1h02m'; 59 -> '59s'; 86400*2+3600 -> '2d01h'."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def relative(text: str | None, now: datetime) -> str:
    at = instant(text)
    if at is None:
        return ""
    delta = (at - now).total_seconds()
    return f"in {span(delta)}" if delta >= 0 else f"{span(delta)} ago"


def clock(name: str, view: dict[str, Any], now: datetime) -> str:
    """One SLA clock: 'response due 06:15Z (in 12m)', 'resolution paused', 'response achieved'."""
    state, due = view.get("state", ""), view.get("due_at")
    flag = " BREACHED" if view.get("breached") else ""
    if state in _LIVE and due:
        return f"{name} due {when(due)} ({relative(due, now)}){flag}"
    return f"{name} {state.replace('_', ' ')}{flag}"


def sla_cell(sla: dict[str, Any], now: datetime) -> str:
    """The clock that matters now: the response clock until someone acknowledges, then the resolution clock.
    '!' marks an incident with a breached clock."""
    response, resolution = sla.get("response", {}), sla.get("resolution", {})
    name, running = ("response", response) if response.get("state") in _LIVE else ("resolution", resolution)
    state, due = running.get("state", ""), running.get("due_at")
    breached = response.get("breached") or resolution.get("breached")
    text = f"{name} {relative(due, now)}" if state in _LIVE and due else f"{name} {state.replace('_', ' ')}"
    return f"{'!' if breached else ''}{text}".strip()


def ci_text(incident: dict[str, Any]) -> str:
    ci_id, name = incident.get("ci_id") or "", incident.get("ci_name") or ""
    if not ci_id:
        return "-"
    return name if name and name != ci_id else ci_id


_COLUMNS = ("NUMBER", "PRI", "STATUS", "CI", "GROUP", "OPENED", "SLA", "TITLE")


def incident_table(items: list[dict[str, Any]], now: datetime, width: int | None = None) -> str:
    """Columns padded to their widest value; with a `width` (a terminal's) long titles are cut to fit."""
    if not items:
        return "no incidents"
    rows = [
        [
            i["number"],
            f"P{i['priority']}",
            i["status"],
            ci_text(i),
            i.get("assignment_group") or "-",
            when(i.get("opened_at")),
            sla_cell(i.get("sla", {}), now),
            i.get("title", ""),
        ]
        for i in items
    ]
    widths = [max(len(r[c]) for r in [list(_COLUMNS), *rows]) for c in range(len(_COLUMNS) - 1)]
    room = max(20, width - sum(widths) - 2 * len(widths)) if width else None
    lines = []
    for r in [list(_COLUMNS), *rows]:
        title = r[-1] if room is None or len(r[-1]) <= room else r[-1][: room - 1] + "…"
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + title)
    return "\n".join(line.rstrip() for line in lines)


def incident_line(i: dict[str, Any], now: datetime) -> str:
    """One line: number, priority, status, CI, and the SLA clock that runs."""
    sla = sla_cell(i.get("sla", {}), now)
    return f"{i['number']}  P{i['priority']}  {i['status']}  CI {ci_text(i)}  SLA {sla}  {i['title']}"


def incident_page(i: dict[str, Any], now: datetime, history: int = 10) -> str:
    sla = i.get("sla", {})
    facts = [
        ("status", i["status"]),
        ("priority", f"P{i['priority']} (impact {i['impact']}, urgency {i['urgency']})"),
        ("CI", f"{i.get('ci_name') or i['ci_id']} ({i['ci_id']})" if i.get("ci_id") else "unbound"),
        ("service", i.get("service")),
        ("assignment", " / ".join(x for x in (i.get("assignment_group"), i.get("assignee")) if x)),
        ("alerts", f"{i.get('alert_count', 0)}{' (flapping)' if i.get('flapping') else ''}"),
        ("SLA", "; ".join(clock(n, sla[n], now) for n in ("response", "resolution") if n in sla)),
        ("opened", when(i.get("opened_at"))),
        ("acknowledged", i.get("acknowledged_at") and when(i["acknowledged_at"])),
        ("resolved", i.get("resolved_at") and when(i["resolved_at"])),
        ("closed", i.get("closed_at") and when(i["closed_at"])),
        ("resolution", ": ".join(x for x in (i.get("resolution_code"), i.get("resolution_notes")) if x)),
        ("known error", i.get("known_error_id")),
        ("workaround", i.get("workaround")),
        (
            "change",
            f"{i['change_id']}{' (during the change)' if i.get('during_change') else ''}" if i.get("change_id") else "",
        ),
        ("previous", i.get("previous_incident_id")),
        ("version", str(i.get("version", ""))),
    ]
    out = [f"{i['number']}  {i['title']}"]
    out += [f"  {label:<13} {value}" for label, value in facts if value]
    alerts = i.get("alerts") or []
    if alerts:
        out.append(f"alerts ({len(alerts)}):")
        for a in alerts:
            state = "firing  " if a["firing"] else "resolved"
            out.append(f"  {state}  x{a['occurrences']:<4} {a['fingerprint'][:16]:<16}  {a['title']}")
    notes = i.get("work_notes") or []
    if notes:
        out.append("work notes:")
        out += [f"  {when(n['at'])}  {n['author']}: {n['text']}" for n in notes]
    entries = (i.get("history") or [])[-history:]
    if entries:
        out.append(f"history (last {len(entries)}):")
        out += [f"  {when(h['at'])}  v{h['version']:<3} {h['actor']:<12} {h['type']}{_changes(h)}" for h in entries]
    return "\n".join(out)


def _changes(entry: dict[str, Any]) -> str:
    """'(status: new -> in_progress)'; nothing for an opening, whose every field is new."""
    changes = {} if entry.get("type") == "opened" else entry.get("changes") or {}
    parts = [f"{k}: {_short(v[0])} -> {_short(v[-1])}" for k, v in changes.items() if isinstance(v, list) and v]
    return f"  ({', '.join(parts)})" if parts else ""


def _short(value: Any) -> str:
    text = "-" if value in (None, "") else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
