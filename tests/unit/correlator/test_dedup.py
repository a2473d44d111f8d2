from datetime import UTC, datetime, timedelta

from services.correlator import dedup
from services.correlator.dedup import (
    DEFAULT_REOPEN_WINDOW,
    RECENT_EVENTS,
    Observation,
    needs_emission,
    observe,
    observe_all,
    resumes,
)

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def obs(event_id, firing=True, at=T0, severity=1, title="Disk full"):
    return Observation(
        event_id=event_id,
        firing=firing,
        severity=severity,
        title=title,
        description="",
        source="alertmanager",
        labels={"alertname": "DiskFull"},
        at=at,
    )


def test_first_firing_opens_state_and_needs_emission():
    state = observe(None, "fp", obs("e1"))
    assert (state.firing, state.occurrences, state.first_seen, state.last_seen) == (True, 1, T0, T0)
    assert needs_emission(None, state)


def test_duplicates_bump_the_count():
    state = observe_all(None, "fp", [obs("e1"), obs("e2", at=T0 + timedelta(seconds=30))])
    assert state.occurrences == 2
    assert state.first_seen == T0 and state.last_seen == T0 + timedelta(seconds=30)


def test_a_second_copy_of_an_event_changes_nothing():
    once = observe(None, "fp", obs("e1"))
    assert observe(once, "fp", obs("e1")) is once


def test_a_refire_within_the_reopen_window_keeps_its_identity_and_count():
    resolved_at = T0 + timedelta(minutes=1)
    before = observe_all(None, "fp", [obs("e1"), obs("e2"), obs("e3", firing=False, at=resolved_at)])
    just_inside = resolved_at + DEFAULT_REOPEN_WINDOW - timedelta(microseconds=1)
    state = observe(before, "fp", obs("e4", at=just_inside))
    assert state.fingerprint == "fp" and state.firing
    assert (state.occurrences, state.first_seen, state.last_seen) == (3, T0, just_inside)
    assert needs_emission(before, state)


def test_a_refire_after_the_reopen_window_is_a_new_occurrence_counted_afresh():
    resolved_at = T0 + timedelta(minutes=1)
    before = observe_all(None, "fp", [obs("e1"), obs("e2"), obs("e3", firing=False, at=resolved_at)])
    at_the_end = resolved_at + DEFAULT_REOPEN_WINDOW
    state = observe(before, "fp", obs("e4", at=at_the_end))
    assert state.fingerprint == "fp" and state.firing
    assert (state.occurrences, state.first_seen) == (1, at_the_end)


def test_the_reopen_window_is_configurable_and_zero_means_always_afresh():
    before = observe_all(None, "fp", [obs("e1"), obs("e2", firing=False)])
    later = T0 + timedelta(hours=1)
    assert observe(before, "fp", obs("e3", at=later), reopen_window=timedelta(hours=2)).occurrences == 2
    assert observe(before, "fp", obs("e3", at=T0), reopen_window=timedelta(0)).occurrences == 1
    assert not resumes(observe(before, "fp", obs("e3")), T0, timedelta(hours=1))  # firing: nothing to resume


def test_resolve_of_unknown_alert_tracks_nothing():
    assert observe(None, "fp", obs("e1", firing=False)) is None
    assert not needs_emission(None, None)


def test_repeated_resolve_is_no_change_for_incidents():
    resolved = observe_all(None, "fp", [obs("e1"), obs("e2", firing=False)])
    again = observe(resolved, "fp", obs("e3", firing=False))
    assert not needs_emission(resolved, again)


def test_status_and_severity_changes_need_emission():
    firing = observe(None, "fp", obs("e1"))
    assert needs_emission(firing, observe(firing, "fp", obs("e2", firing=False)))
    assert needs_emission(firing, observe(firing, "fp", obs("e3", severity=2)))


def test_recent_event_ids_are_bounded():
    state = observe_all(None, "fp", [obs(f"e{i}") for i in range(RECENT_EVENTS * 3)])
    assert len(state.recent_event_ids) == RECENT_EVENTS
    assert state.occurrences == RECENT_EVENTS * 3


def test_emission_sequence_is_the_cause_time_in_microseconds_and_always_increases():
    at = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    micros = int(at.timestamp()) * 1_000_000
    assert dedup.next_sequence(0, at) == micros
    assert dedup.next_sequence(micros, at) == micros + 1  # same instant twice: still increasing
    assert dedup.next_sequence(micros + 50, at) == micros + 51  # a clock that ran backwards
