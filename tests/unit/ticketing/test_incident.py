import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.ticketing.incident import (
    AlertUpdate,
    IncidentPolicy,
    differences,
    number,
    on_alert,
    versioned,
)

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
POLICY = IncidentPolicy()


def update(fp="a", firing=True, occurrences=1, severity=1, sequence=1, group="g1", at=T0, **more):
    return AlertUpdate(
        fingerprint=fp,
        group_key=group,
        sequence=sequence,
        firing=firing,
        occurrences=occurrences,
        severity=severity,
        title=f"alert {fp}",
        description="d",
        at=at,
        **more,
    )


def step(incident, u, policy=POLICY, new_id="id-1"):
    change = on_alert(incident, u, policy, lambda: new_id)
    return None if change is None else versioned(change)


def types(change):
    return [e.type for e in change.events]


def test_firing_alert_opens_an_incident_at_the_alert_time():
    change = step(None, update())
    i = change.incident
    assert types(change) == ["opened"] and change.before is None
    assert (i.id, i.number, i.status, i.alert_count, i.version, i.opened_at) == ("id-1", None, "new", 1, 1, T0)
    assert i.title == "alert a" and i.priority == 2 and (i.impact, i.urgency) == (2, 1)


def test_repeats_add_to_the_count_without_an_event_or_a_version():
    opened = step(None, update(first_seen=T0)).incident
    change = step(opened, update(occurrences=3, sequence=2, first_seen=T0, at=T0 + timedelta(seconds=5)))
    assert types(change) == []
    assert (change.incident.alert_count, change.incident.version, change.incident.id) == (3, 1, "id-1")
    assert change.incident.updated_at == T0 + timedelta(seconds=5)
    assert change.incident.members["a"].occurrences == 3
    assert replace(change.incident, alert_count=1, updated_at=T0, members=opened.members) == opened


def test_repeats_told_or_not_add_up_to_the_same_count():
    opened = step(None, update(first_seen=T0)).incident
    one_by_one = opened
    for n in (2, 3, 4):
        one_by_one = step(one_by_one, update(occurrences=n, sequence=n, first_seen=T0)).incident
    coalesced = step(opened, update(occurrences=4, sequence=4, first_seen=T0)).incident
    assert one_by_one == coalesced and coalesced.alert_count == 4


def test_a_repeat_that_brings_something_new_is_an_update():
    opened = step(None, update(first_seen=T0)).incident
    known = step(opened, update(occurrences=2, sequence=2, first_seen=T0, known_error_id="KE-1", workaround="w"))
    assert types(known) == ["updated"] and known.incident.known_error_id == "KE-1"
    worse = step(opened, update(occurrences=2, sequence=2, first_seen=T0, severity=2))
    assert types(worse) == ["updated"]
    wider = step(opened, update(occurrences=2, sequence=2, first_seen=T0, affected_ci_ids=("host-9",)))
    assert types(wider) == ["updated"] and wider.incident.affected_ci_ids == ("host-9",)


def test_a_new_firing_period_is_an_update_not_a_repeat():
    opened = step(None, update(first_seen=T0)).incident
    quiet = step(opened, update(fp="b", sequence=1)).incident  # keeps the incident open
    resolved = step(quiet, update(firing=False, sequence=2, first_seen=T0)).incident
    later = T0 + timedelta(minutes=3)
    again = step(resolved, update(sequence=3, first_seen=later, at=later))
    assert types(again) == ["updated"] and again.incident.alert_count == 3


def test_auto_resolves_when_every_alert_resolved():
    opened = step(None, update()).incident
    two = step(opened, update(fp="b")).incident
    assert two.alert_count == 2
    half = step(two, update(firing=False, sequence=2))
    assert types(half) == ["updated"] and half.incident.status == "new"
    done = step(half.incident, update(fp="b", firing=False, sequence=2, at=T0 + timedelta(minutes=1)))
    assert types(done) == ["resolved"]
    i = done.incident
    assert i.status == "resolved" and i.resolved_at == T0 + timedelta(minutes=1) and not i.is_open
    assert i.resolution_code == "auto-resolved" and i.responded_at == i.resolved_at


def test_a_priority_not_auto_resolved_stays_open_for_a_human():
    policy = IncidentPolicy(auto_resolve=frozenset({4, 5}))
    opened = step(None, update(severity=1), policy).incident  # P2
    change = step(opened, update(firing=False, sequence=2), policy)
    assert types(change) == ["updated"] and change.incident.status == "new"


def test_resolve_without_an_incident_changes_nothing():
    assert step(None, update(firing=False)) is None


def test_the_same_report_twice_changes_nothing():
    opened = step(None, update()).incident
    assert step(opened, update()) is None


def test_priority_follows_the_worst_firing_severity_and_its_change_is_an_event():
    opened = step(None, update(severity=5)).incident
    assert opened.priority == 4
    worse = step(opened, update(fp="b", severity=1))
    assert types(worse) == ["updated", "priority_changed"] and worse.incident.priority == 2
    assert worse.incident.version == 3  # one version per event
    assert worse.before.priority == 4


def test_impact_comes_from_the_most_critical_ci_and_how_much_is_affected():
    critical = step(None, update(severity=4, ci_id="db-1", root_ci_id="db-1", ci_criticality=1)).incident
    assert (critical.impact, critical.urgency, critical.priority) == (1, 2, 2)
    minor = step(None, update(severity=5, ci_id="app-1", root_ci_id="host-1", ci_criticality=5)).incident
    assert (minor.impact, minor.urgency, minor.priority) == (3, 3, 5)
    wide = update(
        fp="b", severity=5, ci_id="app-2", ci_criticality=5, affected_ci_ids=tuple(f"app-{n}" for n in range(10))
    )
    assert step(minor, wide).incident.impact == 1  # ten CIs affected


def test_the_incident_carries_root_ci_service_group_known_error_and_change():
    u = update(
        ci_id="app-1",
        root_ci_id="host-1",
        ci_name="app one",
        support_group="web-team",
        service="shop",
        known_error_id="KE-1",
        workaround="restart",
        change_id="CHG-1",
        during_change=True,
        affected_ci_ids=("app-1", "host-1"),
    )
    i = step(None, u).incident
    assert (i.ci_id, i.ci_name, i.assignment_group, i.service) == ("host-1", "", "web-team", "shop")
    assert (i.known_error_id, i.workaround, i.change_id, i.during_change) == ("KE-1", "restart", "CHG-1", True)
    assert i.affected_ci_ids == ("app-1", "host-1")
    host = step(i, update(fp="b", ci_id="host-1", root_ci_id="host-1", ci_name="host one")).incident
    assert host.ci_name == "host one" and host.assignment_group == "web-team"


def test_a_person_assignment_is_never_undone_by_alerts():
    i = replace(step(None, update()).incident, assignment_group="dba", assignee="kim")
    later = step(i, update(fp="b", support_group="web-team")).incident
    assert (later.assignment_group, later.assignee) == ("dba", "kim")


def test_flapping_shows_on_the_incident():
    i = step(None, update()).incident
    assert step(i, update(occurrences=2, flapping=True)).incident.flapping


def test_a_refire_within_the_reopen_window_reopens_the_same_incident():
    opened = step(None, update(first_seen=T0)).incident
    resolved = step(opened, update(firing=False, first_seen=T0, at=T0 + timedelta(minutes=1))).incident
    again = step(resolved, update(occurrences=1, first_seen=T0 + timedelta(minutes=30), at=T0 + timedelta(minutes=30)))
    i = again.incident
    assert types(again) == ["reopened"] and i.id == "id-1" and i.status == "in_progress"
    assert i.resolved_at is None and i.pauses == ((T0 + timedelta(minutes=1), T0 + timedelta(minutes=30)),)
    assert i.alert_count == 2  # a new firing period counts from 1 again: the incident keeps its total


def test_a_resumed_firing_period_goes_on_counting():
    opened = step(None, update(first_seen=T0, occurrences=3)).incident
    resolved = step(opened, update(firing=False, first_seen=T0, occurrences=3, at=T0 + timedelta(minutes=1))).incident
    resumed = step(resolved, update(first_seen=T0, occurrences=4, at=T0 + timedelta(minutes=2))).incident
    assert resumed.alert_count == 4 and resumed.status == "in_progress"


def test_after_the_reopen_window_a_new_incident_references_the_previous_one():
    opened = step(None, update()).incident
    resolved = step(opened, update(firing=False, at=T0 + timedelta(minutes=1))).incident
    later = step(resolved, update(at=T0 + timedelta(hours=2)), new_id="id-2")
    assert types(later) == ["opened"] and later.incident.id == "id-2"
    assert later.incident.previous_incident_id == "id-1" and later.incident.alert_count == 1


def test_closed_and_cancelled_incidents_never_reopen():
    opened = step(None, update()).incident
    for status in ("closed", "cancelled"):
        done = replace(opened, status=status, closed_at=T0)
        change = step(done, update(fp="b", at=T0 + timedelta(seconds=1)), new_id="id-2")
        assert types(change) == ["opened"] and change.incident.previous_incident_id == "id-1"


def test_a_repeat_of_what_was_firing_when_a_person_resolved_it_does_not_reopen():
    opened = step(None, update()).incident
    by_hand = replace(opened, status="resolved", resolved_at=T0 + timedelta(minutes=1))
    assert step(by_hand, update(occurrences=2, at=T0 + timedelta(minutes=2))) is None


def test_description_lists_the_alerts_firing_first():
    i = step(None, update(ci_id="db-1")).incident
    i = step(i, update(fp="b", severity=3)).incident
    i = step(i, update(firing=False, ci_id="db-1")).incident
    assert i.description.splitlines() == [
        "2 alert(s), 1 firing:",
        "- [firing] minor: alert b",
        "- [resolved] critical: alert a (CI db-1)",
    ]


def test_a_large_incident_describes_its_first_twenty_alerts_in_order_and_counts_the_rest():
    rng = random.Random(7)
    i = step(None, update(fp="fp000")).incident
    for n in range(600):
        u = update(fp=f"fp{rng.randrange(400):03d}", firing=rng.random() < 0.7, severity=rng.choice([1, 2, 3, 4]))
        change = step(i, replace(u, sequence=n + 2, title=f"alert {rng.choice('xyz')}"))
        i = change.incident if change else i
    members = i.members.values()
    assert i.is_open and len(members) > 150  # many more than the twenty listed
    first = sorted(members, key=lambda m: (not m.firing, m.severity, m.title, m.fingerprint))[:20]
    names = {1: "critical", 2: "major", 3: "minor", 4: "warning"}
    assert i.description.splitlines() == [
        f"{len(members)} alert(s), {sum(m.firing for m in members)} firing:",
        *(f"- [{'firing' if m.firing else 'resolved'}] {names[m.severity]}: {m.title}" for m in first),
        f"- ... and {len(members) - 20} more",
    ]


def test_affected_cis_stay_sorted_and_once_each_whatever_order_and_repeats_report_them():
    rng = random.Random(11)
    i, reported = None, set()
    for n in range(400):
        ci = f"host-{rng.randrange(60):02d}"
        also = tuple(f"app-{rng.randrange(30):02d}" for _ in range(rng.randrange(3)))
        i = step(
            i, update(fp=f"fp{n % 50}", occurrences=n + 1, sequence=n + 1, ci_id=ci, affected_ci_ids=also)
        ).incident
        reported |= {ci, *also}
        assert i.affected_ci_ids == tuple(sorted(reported))
    again = step(i, update(fp="fp1", occurrences=999, sequence=999, ci_id="host-00", affected_ci_ids=("app-00",)))
    assert again.incident.affected_ci_ids is i.affected_ci_ids  # nothing new: the same tuple, not sorted again
    group = tuple(list(i.affected_ci_ids))  # the group's CIs as the correlator sends them: the incident's
    same = step(i, update(fp="fp2", occurrences=999, sequence=999, ci_id="host-00", affected_ci_ids=group))
    assert same.incident.affected_ci_ids is i.affected_ci_ids
    own = step(i, update(fp="fp3", occurrences=999, sequence=999, ci_id="host-new", affected_ci_ids=group))
    assert own.incident.affected_ci_ids == tuple(sorted({*group, "host-new"}))


def test_differences_name_each_audited_field_with_old_and_new():
    before = step(None, update()).incident
    after = replace(before, status="in_progress", assignee="kim", acknowledged_at=T0)
    assert differences(before, after) == {
        "status": ["new", "in_progress"],
        "assignee": ["", "kim"],
        "acknowledged_at": [None, T0.isoformat()],
    }


def test_numbers_are_zero_padded_and_never_truncated():
    assert number(1) == "INC0000001" and number(12345678) == "INC12345678"


def test_the_count_follows_the_group_count_which_holds_repeats_not_told():
    opened = step(None, update(first_seen=T0, group_occurrences=1)).incident
    assert (opened.alert_count, opened.counted_to) == (1, 1)
    # b fires after a was seen 4 more times, none of them told: the group count has them
    joined = step(opened, update(fp="b", first_seen=T0, group_occurrences=6, at=T0 + timedelta(seconds=9))).incident
    assert (joined.alert_count, joined.counted_to) == (6, 6)
    # a's last count, told late, adds nothing the group count had not: nothing is counted twice
    late = step(joined, update(occurrences=5, sequence=2, first_seen=T0, group_occurrences=6)).incident
    assert (late.alert_count, late.members["a"].occurrences) == (6, 5)
    stale = step(late, update(occurrences=6, sequence=3, first_seen=T0, group_occurrences=4)).incident
    assert (stale.alert_count, stale.counted_to) == (6, 6)  # a count from before is never a step back


def test_an_incident_from_before_the_group_count_counts_by_its_alerts_once_then_by_the_group():
    opened = step(None, update(first_seen=T0)).incident  # no group count: an emission from an older correlator
    assert opened.counted_to == 0
    repeat = step(opened, update(occurrences=3, sequence=2, first_seen=T0, group_occurrences=40)).incident
    assert (repeat.alert_count, repeat.counted_to) == (3, 40)  # by a's own count: 40 holds what came before
    more = step(repeat, update(fp="b", first_seen=T0, group_occurrences=45)).incident
    assert more.alert_count == 8
