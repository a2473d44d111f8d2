from datetime import UTC, datetime, timedelta

from services.ticketing.incident import AlertUpdate, apply

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def update(fp="a", firing=True, occurrences=1, severity=1, sequence=1, group="g1"):
    return AlertUpdate(
        fingerprint=fp,
        group_key=group,
        sequence=sequence,
        firing=firing,
        occurrences=occurrences,
        severity=severity,
        title=f"alert {fp}",
        description="d",
    )


def test_firing_alert_opens_an_incident():
    change = apply(None, update(), T0, "id-1")
    i = change.incident
    assert change.type == "opened"
    assert (i.id, i.number, i.status, i.alert_count, i.version, i.opened_at) == ("id-1", None, "new", 1, 1, T0)
    assert i.title == "alert a" and i.priority == 2


def test_duplicates_update_the_count():
    opened = apply(None, update(), T0, "id-1").incident
    change = apply(opened, update(occurrences=3, sequence=2), T0 + timedelta(seconds=5), "unused")
    assert change.type == "updated"
    assert change.incident.alert_count == 3 and change.incident.version == 2 and change.incident.id == "id-1"


def test_resolved_when_every_alert_resolved():
    opened = apply(None, update(), T0, "id-1").incident
    two = apply(opened, update(fp="b", sequence=1), T0, "unused").incident
    assert two.alert_count == 2
    half = apply(two, update(firing=False, sequence=2), T0, "unused")
    assert half.type == "updated" and half.incident.status == "new"
    done = apply(half.incident, update(fp="b", firing=False, sequence=2), T0 + timedelta(minutes=1), "unused")
    assert done.type == "resolved"
    assert done.incident.status == "resolved" and done.incident.resolved_at == T0 + timedelta(minutes=1)
    assert not done.incident.is_open


def test_resolve_without_open_incident_changes_nothing():
    assert apply(None, update(firing=False), T0, "id-1") is None


def test_the_same_update_twice_changes_nothing():
    opened = apply(None, update(), T0, "id-1").incident
    assert apply(opened, update(), T0, "unused") is None


def test_priority_follows_the_worst_firing_severity():
    opened = apply(None, update(severity=5), T0, "id-1").incident
    assert opened.priority == 4
    worse = apply(opened, update(fp="b", severity=1), T0, "x").incident
    assert worse.priority == 2
