from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.correlator import correlation
from services.correlator.binding import MatchRules
from services.correlator.cmdb import CI, Cmdb, Relationship
from services.correlator.correlation import (
    ExpiryInvalid,
    ExpiryPolicy,
    Sighting,
    Snapshot,
    bound,
    correlate,
    expire,
)
from services.correlator.dedup import Observation
from services.correlator.flapping import FlapPolicy
from services.correlator.known_errors import KnownErrorCatalog
from services.correlator.windows import Change, MaintenanceWindow, WindowIndex

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
CMDB = Cmdb.build(
    [CI("host-1", "host-1", "host"), CI("db-1", "db-1", "database")]
    + [CI(f"app-{i}", f"app-{i}", "application") for i in range(20)],
    [Relationship(f"app-{i}", "runs_on", "host-1") for i in range(20)],
)
CATALOG = KnownErrorCatalog.build(
    [
        {
            "id": "KE-1",
            "title": "Disk fills with logs",
            "workaround": "rotate logs",
            "matchers": [{"type": "label", "label": "alertname", "value": "DiskFull"}],
        }
    ]
)


def snapshot(changes=(), windows=(), **policies) -> Snapshot:
    return Snapshot(1, CMDB, MatchRules(), CATALOG, WindowIndex.build(changes, windows, CMDB), **policies)


def seen(event_id, host="host-1", firing=True, at=T0, alertname="HostDown", source="alertmanager") -> Sighting:
    labels = {"alertname": alertname, "host": host}
    obs = Observation(event_id, firing, 1, f"{alertname} on {host}", "", source, labels, at)
    return Sighting(obs)


def run(snap, events, before=None, groups=None):
    """Feed (fingerprint, sightings) pairs; returns the final states and which fingerprints emitted."""
    groups = {} if groups is None else groups
    states, emitted = dict(before or {}), []
    for fp, sightings in events:
        after, emissions = correlate(states.get(fp), fp, sightings, groups, snap)
        if after is not None:
            states[fp] = after
        emitted.extend(fp for _ in emissions)
    return states, emitted, groups


def test_a_host_and_its_twenty_applications_form_one_group_on_the_host():
    events = [("host", [seen("h", "host-1")])] + [(f"a{i}", [seen(f"a{i}", f"app-{i}")]) for i in range(20)]
    states, emitted, groups = run(snapshot(), events)
    assert len(emitted) == 21
    assert {s.group_id for s in states.values()} == {f"ci:host-1@{T0.isoformat()}"}
    assert {s.root_ci_id for s in states.values()} == {"host-1"}
    assert groups["ci:host-1"].affected == frozenset({"host-1", *(f"app-{i}" for i in range(20))})
    assert states["a3"].ci_id == "app-3" and states["a3"].binding == "name:host"


def test_unbound_alerts_group_by_labels_and_are_kept():
    states, emitted, _ = run(snapshot(), [("x", [seen("x", "nowhere")]), ("y", [seen("y", "elsewhere")])])
    assert emitted == ["x", "y"]
    assert states["x"].ci_id is None and states["x"].binding == "unbound"
    assert states["x"].group_id == states["y"].group_id and states["x"].group_id.startswith("labels:")


def test_after_a_gap_the_group_reopens_under_a_new_instance():
    later = T0 + timedelta(minutes=30)
    states, _, _ = run(
        snapshot(),
        [("a", [seen("a1", "app-1")]), ("a", [seen("a2", "app-1", firing=False, at=T0 + timedelta(minutes=1))])],
    )
    states, _, _ = run(snapshot(), [("b", [seen("b1", "app-2", at=later)])], states)
    assert states["b"].group_id == f"ci:host-1@{later.isoformat()}" != states["a"].group_id


def test_a_refire_within_the_reopen_window_resumes_in_its_group_and_a_later_one_starts_afresh():
    snap = snapshot(reopen_window=timedelta(minutes=10))
    fired = [seen("a1", "app-1"), seen("a2", "app-1"), seen("a3", "app-1", firing=False, at=T0 + timedelta(minutes=1))]
    states, _, groups = run(snap, [("a", fired)])
    resumed, emitted, _ = run(snap, [("a", [seen("a4", "app-1", at=T0 + timedelta(minutes=3))])], states, groups)
    a = resumed["a"]
    assert emitted == ["a"] and a.alert.firing and a.announced
    assert (a.alert.occurrences, a.alert.first_seen, a.group_id) == (3, T0, states["a"].group_id)
    later = T0 + timedelta(minutes=11)
    afresh, emitted, _ = run(snap, [("a", [seen("a5", "app-1", at=later)])], states, dict(groups))
    b = afresh["a"]
    assert emitted == ["a"] and (b.alert.occurrences, b.alert.first_seen) == (1, later)
    assert b.group_id == f"ci:host-1@{later.isoformat()}" and b.incident_key == "ci:host-1"


def test_known_error_is_matched():
    states, _, _ = run(snapshot(), [("d", [seen("d", "db-1", alertname="DiskFull")])])
    assert states["d"].known_error_id == "KE-1"


def test_duplicates_inside_a_batch_coalesce_into_one_emission_with_the_count():
    # The first firing goes out alone (when the alert fired does not depend on what else the batch held);
    # its eight repeats coalesce into one more emission carrying the count.
    sightings = [seen(f"e{i}", "app-1", at=T0 + timedelta(seconds=i)) for i in range(9)]
    after, emissions = correlate(None, "a", sightings, {}, snapshot())
    assert [(t.alert.occurrences, at) for t, at in emissions] == [(1, T0), (9, T0 + timedelta(seconds=8))]
    states, emitted, _ = run(snapshot(), [("a", [seen(f"e{i}", "app-1") for i in range(9)])])
    assert emitted == ["a", "a"] and states["a"].alert.occurrences == 9
    more, emitted, _ = run(snapshot(), [("a", [seen(f"e{i}", "app-1") for i in range(9, 12)])], states)
    assert emitted == ["a"] and more["a"].alert.occurrences == 12  # repeats of a firing alert: one emission
    again, emitted, _ = run(snapshot(), [("a", [seen("e3", "app-1")])], states)
    assert emitted == [] and again == states  # a copy of an applied event changes nothing


def test_suppress_window_on_the_host_covers_its_applications():
    change = Change("CHG1", ("host-1",), T0 - timedelta(hours=1), T0 + timedelta(hours=1), "approved", "suppress")
    states, emitted, _ = run(snapshot([change]), [("a", [seen("a", "app-7")]), ("db", [seen("d", "db-1")])])
    assert emitted == ["db"]
    assert states["a"].suppressed and states["a"].change_id == "CHG1" and not states["a"].announced


def test_outside_the_window_or_unapproved_nothing_is_suppressed():
    window = (T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    changes = [
        Change("CHG-later", ("host-1",), *window, "approved", "suppress"),
        Change("CHG-draft", ("host-1",), T0 - timedelta(hours=1), T0 + timedelta(hours=1), "requested", "suppress"),
    ]
    states, emitted, _ = run(snapshot(changes), [("a", [seen("a", "app-7")])])
    assert emitted == ["a"] and states["a"].change_id is None


def test_mark_policy_emits_marked_during_change():
    w = MaintenanceWindow("MW1", ("app-2",), T0 - timedelta(minutes=5), T0 + timedelta(minutes=5), "mark")
    states, emitted, _ = run(snapshot(windows=[w]), [("a", [seen("a", "app-2")])])
    assert emitted == ["a"] and states["a"].during_change and states["a"].window_id == "MW1"


def test_an_announced_alert_is_not_hidden_by_a_window_that_starts_later():
    change = Change("CHG1", ("host-1",), T0 + timedelta(minutes=1), T0 + timedelta(hours=1), "approved", "suppress")
    snap = snapshot([change])
    states, _, _ = run(snap, [("a", [seen("a1", "app-1")])])
    states, emitted, _ = run(snap, [("a", [seen("a2", "app-1", at=T0 + timedelta(minutes=2))])], states)
    assert emitted == ["a"] and states["a"].announced and not states["a"].suppressed
    assert states["a"].during_change and states["a"].change_id == "CHG1"


def test_flapping_holds_the_resolve_and_marks_the_emission():
    snap = snapshot(flap=FlapPolicy(max_changes=2, window=timedelta(minutes=10), quiet=timedelta(minutes=10)))
    states, _, _ = run(snap, [("a", [seen("e0", "app-1")])])
    flips = [seen(f"e{i}", "app-1", firing=i % 2 == 0, at=T0 + timedelta(seconds=i)) for i in range(1, 6)]
    states, emitted, _ = run(snap, [("a", flips)], states)
    a = states["a"]
    # e1 resolves and e2 re-fires before flapping is detected; e3 is held (shown flapping), e4 re-fires (the
    # count goes on: within the reopen window); e5, held again, changes nothing downstream sees.
    assert emitted == ["a"] * 4 and a.flap.flapping and not a.alert.firing and a.shown_firing
    assert a.expires_at == a.flap.last_change_at + timedelta(minutes=10)
    assert expire(a, a.expires_at - timedelta(seconds=1)) is None
    quiet, emit = expire(a, a.expires_at)
    assert emit and not quiet.shown_firing and not quiet.flap.flapping and not quiet.announced


def test_a_firing_alert_not_seen_for_its_timeout_expires():
    snap = snapshot(expiry=ExpiryPolicy({"pagerduty": timedelta(minutes=30)}, timedelta(hours=4)))
    states, _, _ = run(snap, [("p", [seen("p", "app-1", source="pagerduty")]), ("m", [seen("m", "app-2")])])
    assert states["p"].expires_at == T0 + timedelta(minutes=30)
    assert states["m"].expires_at == T0 + timedelta(hours=4)
    expired, emit = expire(states["p"], T0 + timedelta(hours=1))
    assert emit and expired.expired and not expired.alert.firing and expired.alert.last_seen == states["p"].expires_at
    # Seen again: it fires afresh, no longer expired.
    again, emitted, _ = run(
        snap, [("p", [seen("p2", "app-1", at=T0 + timedelta(hours=2), source="pagerduty")])], {"p": expired}
    )
    assert emitted == ["p"] and again["p"].alert.firing and not again["p"].expired


def test_senders_end_time_is_honoured():
    ends = T0 + timedelta(minutes=4)
    sighting = replace(seen("m", "app-1"), ends_at=ends)
    states, _, _ = run(snapshot(), [("m", [sighting])])
    assert states["m"].expires_at == ends


def test_a_resolve_of_an_unannounced_alert_is_not_emitted():
    change = Change("CHG1", ("app-1",), T0 - timedelta(hours=1), T0 + timedelta(hours=1), "in progress", "suppress")
    states, emitted, _ = run(snapshot([change]), [("a", [seen("a1", "app-1"), seen("a2", "app-1", firing=False)])])
    assert emitted == [] and states["a"].suppressed and not states["a"].alert.firing


def test_expiry_policy_parses_per_source_seconds():
    policy = ExpiryPolicy.parse("pagerduty=14400, grafana=600,default=7200")
    assert policy.timeout("grafana") == timedelta(minutes=10) and policy.timeout("native") == timedelta(hours=2)
    for bad in ("pagerduty", "x=abc", "=5", "x=0"):
        with pytest.raises(ExpiryInvalid):
            ExpiryPolicy.parse(bad)


def test_while_flapping_a_resolve_is_held_back_without_an_emission():
    snap = snapshot(flap=FlapPolicy(max_changes=2, window=timedelta(minutes=10), quiet=timedelta(minutes=10)))
    states, _, _ = run(snap, [("a", [seen("e0", "app-1")])])
    flips = [seen(f"e{i}", "app-1", firing=i % 2 == 0, at=T0 + timedelta(seconds=i)) for i in range(1, 5)]
    states, emitted, _ = run(snap, [("a", flips)], states)
    assert emitted == ["a"] * 4 and states["a"].flap.flapping and states["a"].alert.firing
    states, emitted, _ = run(snap, [("a", [seen("e5", "app-1", firing=False, at=T0 + timedelta(seconds=5))])], states)
    assert emitted == [] and states["a"].shown_firing and not states["a"].alert.firing


def test_an_alert_that_fires_and_resolves_inside_one_batch_still_reaches_ticketing_firing():
    after, emissions = correlate(None, "a", [seen("e1", "app-1"), seen("e2", "app-1", firing=False)], {}, snapshot())
    assert [(t.shown_firing, at) for t, at in emissions] == [(True, T0), (False, T0)]
    assert not after.alert.firing and not after.announced


def test_batch_boundaries_change_neither_the_final_state_nor_the_status_changes_emitted():
    snap = snapshot(flap=FlapPolicy(max_changes=2, window=timedelta(minutes=10), quiet=timedelta(minutes=10)))
    statuses = [True, True, False, True, True, True, False, False, True, False, True]
    events = [seen(f"e{i}", "app-1", firing=f, at=T0 + timedelta(seconds=i)) for i, f in enumerate(statuses)]
    after, emissions = correlate(None, "a", events, {}, snap)
    whole_emitted = [t.shown_firing for t, _ in emissions]
    one_by_one, state = [], None
    groups: dict = {}
    for event in events:
        state, emissions = correlate(state, "a", [event], groups, snap)
        one_by_one += [t.shown_firing for t, _ in emissions]
    assert state == after
    # Alone, each duplicate is emitted (a count change); together they coalesce. Status changes never do.
    dedupe = [s for i, s in enumerate(one_by_one) if i == 0 or s != one_by_one[i - 1]]
    assert dedupe == [s for i, s in enumerate(whole_emitted) if i == 0 or s != whole_emitted[i - 1]]


def test_what_an_alert_binds_to_is_remembered_per_snapshot_and_per_labels_and_text(monkeypatch):
    snap = snapshot()
    first = bound(seen("e1", "app-3", alertname="DiskFull").observation, snap)
    assert (first.binding.ci_id, first.known_error.id, first.group_key.key) == ("app-3", "KE-1", "ci:host-1")
    assert bound(seen("e2", "app-3", alertname="DiskFull", at=T0 + timedelta(hours=1)).observation, snap) is first
    assert bound(seen("e3", "db-1", alertname="DiskFull").observation, snap).binding.ci_id == "db-1"
    other = Snapshot(
        2,
        Cmdb.build([CI("app-3", "app-3", "application")], []),
        MatchRules(),
        KnownErrorCatalog.build([]),
        WindowIndex.build((), (), CMDB),
    )
    again = bound(seen("e1", "app-3", alertname="DiskFull").observation, other)  # a new CMDB: bound afresh
    assert (again.known_error, again.group_key.key) == (None, "ci:app-3")
    monkeypatch.setattr(correlation, "REMEMBERED", 2)
    for i in range(5):
        assert bound(seen(f"n{i}", f"app-{i}").observation, snap).binding.ci_id == f"app-{i}"
    assert len(snap.bindings) <= 2


def test_a_batch_binds_each_sighting_once_and_correlates_with_what_it_was_given():
    snap = snapshot()
    sightings = [("a", seen("e1", "app-3", alertname="DiskFull")), ("b", seen("e2", "db-1"))]
    found = [bound(s.observation, snap) for _, s in sightings]
    given, _ = correlation.correlate_all({}, sightings, {}, snap, found)
    computed, _ = correlation.correlate_all({}, sightings, {}, snapshot())
    assert given == computed
    assert (given["a"].ci_id, given["a"].known_error_id, given["b"].ci_id) == ("app-3", "KE-1", "db-1")
    # What the caller bound is what counts (the pipeline locked the group rows of exactly those keys).
    swapped, _ = correlation.correlate_all({}, sightings, {}, snap, found[::-1])
    assert (swapped["a"].ci_id, swapped["a"].group_key, swapped["b"].ci_id) == ("db-1", found[1].group_key.key, "app-3")
    with pytest.raises(ValueError):
        correlation.correlate_all({}, sightings, {}, snap, found[:1])


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(0, 5), st.booleans(), st.integers(0, 900)),
        max_size=40,
    )
)
def test_a_state_is_kept_as_the_same_object_exactly_when_a_sighting_changes_nothing(story):
    """correlate_all and the pipeline tell a changed state by identity: a sighting either leaves the very state
    it was given or makes one that differs from it (copies of an event, resolves of nothing, flips, repeats)."""
    snap = snapshot(flap=FlapPolicy(max_changes=2, window=timedelta(minutes=10), quiet=timedelta(minutes=5)))
    states: dict = {}
    groups: dict = {}
    for fingerprint, event, firing, second in story:
        sighting = seen(f"{fingerprint}{event}", "app-1", firing=firing, at=T0 + timedelta(seconds=second))
        before = states.get(fingerprint)
        after, _ = correlation.correlate_all(states, [(fingerprint, sighting)], groups, snap)
        assert (after[fingerprint] is before) == (after[fingerprint] == before)
        states[fingerprint] = after[fingerprint]
