"""The derived fields of an incident kept by a tally, alert by alert, against the same fields computed from all of its
alerts at once, as the rules say them (tests/unit/ticketing/test_incident.py has the rules one by one)."""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.ticketing import priority as itil
from services.ticketing.incident import AlertUpdate, Incident, IncidentPolicy, on_alert

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
POLICY = IncidentPolicy(auto_resolve=frozenset())  # stays open when all resolve: the long random runs go on
NAMES = {1: "critical", 2: "major", 3: "minor", 4: "warning", 5: "info"}


def random_update(rng: random.Random, n: int, alerts: int = 60) -> AlertUpdate:
    fp = f"fp{rng.randrange(alerts):02d}"
    return AlertUpdate(
        fingerprint=fp,
        group_key="g",
        sequence=n,
        firing=rng.random() < 0.75,
        occurrences=n,
        severity=rng.choice([0, 1, 2, 3, 4, 5]),
        title=f"alert {rng.choice('abc')}",
        description="",
        at=T0 + timedelta(seconds=n),
        ci_id=f"ci-{rng.randrange(8)}",
        ci_criticality=rng.choice([0, 0, 1, 3, 5]),
        service=rng.choice(["", "", "shop", "pay"]),
        flapping=rng.random() < 0.1,
    )


def expected(i: Incident, before: Incident | None) -> dict:
    members = list(i.members.values())
    firing = [m for m in members if m.firing]
    first = sorted(members, key=lambda m: (not m.firing, m.severity or 9, m.title, m.fingerprint))[:20]
    lines = [
        f"- [{'firing' if m.firing else 'resolved'}] {NAMES.get(m.severity, 'warning')}: {m.title}"
        + (f" (CI {m.ci_id})" if m.ci_id else "")
        for m in first
    ]
    if len(members) > 20:
        lines.append(f"- ... and {len(members) - 20} more")
    out = {
        "description": f"{len(members)} alert(s), {len(firing)} firing:\n" + "\n".join(lines),
        "flapping": any(m.flapping for m in members),
    }
    if firing:
        criticality = min((m.ci_criticality for m in members if m.ci_criticality), default=None)
        services = {m.service for m in members if m.service}
        worst = min((m.severity for m in firing if m.severity), default=4)
        impact = itil.impact_from(criticality, len(i.affected_ci_ids), len(services))
        urgency = itil.urgency_from_severity(NAMES.get(worst, "warning"))
        out |= {"impact": int(impact), "urgency": int(urgency), "priority": itil.priority(impact, urgency)}
    elif before is not None:
        out |= {"impact": before.impact, "urgency": before.urgency, "priority": before.priority}
    return out


def derived(i: Incident) -> dict:
    return {k: getattr(i, k) for k in ("description", "flapping", "impact", "urgency", "priority")}


def right(after: Incident, before: Incident | None) -> bool:
    want = expected(after, before)
    return {k: v for k, v in derived(after).items() if k in want} == want


@pytest.mark.parametrize("alerts", [4, 60])  # few: the worst severity firing often differs from the worst of all
def test_alert_by_alert_the_derived_fields_are_those_of_all_the_alerts_at_once(alerts):
    rng, incident, changes = random.Random(3), None, 0
    for n in range(1, 1500):
        change = on_alert(incident, random_update(rng, n, alerts), POLICY, lambda: "id-1")
        if change is None:
            continue
        if change.events:  # a change (a repeat derives nothing)
            assert right(change.incident, incident), n
            changes += 1
        incident = change.incident
    assert changes > 500 and len(incident.members) == alerts


def test_two_changes_from_one_version_and_an_incident_loaded_without_a_tally_are_each_right():
    rng, incident = random.Random(5), None
    for n in range(1, 200):
        change = on_alert(incident, random_update(rng, n), POLICY, lambda: "id-1")
        incident = change.incident if change else incident
    assert incident is not None
    one = replace(random_update(rng, 500), fingerprint="fp01", firing=True, severity=1, title="alert z")
    other = replace(one, fingerprint="fp02", severity=5, title="alert y", sequence=501)
    for u in (one, other, one):  # each from the same version: the second finds the tally moved on, and recounts
        change = on_alert(incident, u, POLICY, lambda: "x")
        assert change is not None and right(change.incident, incident)
    loaded = replace(incident, tally=None)  # as the store builds it
    change = on_alert(loaded, other, POLICY, lambda: "x")
    assert change is not None
    assert derived(change.incident) == derived(on_alert(incident, other, POLICY, lambda: "x").incident)
