"""Repeats told at most once per repeat interval: the rest are held, and the group count keeps what each change
tells exact; a held repeat is told by the next sighting past the interval, or by the sweep when it ends."""

from datetime import timedelta

from services.correlator.correlation import due, expire
from services.correlator.dedup import caused_at, next_sequence
from services.shared.frozen import evolve

from .test_batch_order import REPEATS, _told_as_repeat, emitted_in_batches, s, splits
from .test_correlation import T0, seen, snapshot

HELD = snapshot(repeat_interval=timedelta(seconds=5))


def changes(told):
    return [
        (t.state.alert.fingerprint, t.state.shown_firing, t.group.occurrences)
        for t in told
        if not _told_as_repeat(t, told)
    ]


def test_repeats_within_the_interval_are_held_and_the_changes_are_told_as_before():
    told, states = emitted_in_batches(REPEATS, [len(REPEATS)], HELD)
    shown = [(t.state.alert.fingerprint, t.state.alert.occurrences, t.cause.event_id) for t in told]
    # app-0 told at 0 s; its repeats at 1, 2 and 4 s are held; the one at 6 s is past the interval and told
    assert shown == [("app-0", 1, "r1"), ("app-1", 1, "r4"), ("app-0", 5, "r7"), ("app-1", 2, "r8"), ("db-1", 1, "r10")]
    assert changes(told) == changes(emitted_in_batches(REPEATS, [len(REPEATS)])[0])
    # app-0's repeats at 8 and 10 s wait for the sweep at 6 + 5 s; app-1 resolved and db-1 has nothing untold
    assert states["app-0"].tell_at == T0 + s(11) and states["app-0"].alert.occurrences == 7
    assert states["app-1"].tell_at is None and states["db-1"].tell_at is None


def test_what_is_held_and_told_does_not_depend_on_the_batches():
    one = emitted_in_batches(REPEATS, [1] * len(REPEATS), HELD)
    for sizes in splits(len(REPEATS)):
        told, states = emitted_in_batches(REPEATS, sizes, HELD)
        assert changes(told) == changes(one[0]), sizes
        assert {fp: (t.tell_at, t.alert.occurrences) for fp, t in states.items()} == {
            fp: (t.tell_at, t.alert.occurrences) for fp, t in one[1].items()
        }


def test_the_sweep_tells_a_held_repeat_when_its_interval_ends():
    _, states = emitted_in_batches(REPEATS, [len(REPEATS)], HELD)
    app0 = states["app-0"]
    assert due(app0, T0 + s(10)) is None
    after, cause = due(app0, T0 + s(11))
    assert after.tell_at is None and cause == app0.alert.last_seen == T0 + s(10)
    assert after.alert.occurrences == 7 and after.announced and after.alert.firing
    assert next_sequence(app0.alert.sequence, cause) > app0.alert.sequence


def test_an_expiry_due_with_a_held_repeat_tells_both_at_once():
    _, states = emitted_in_batches(REPEATS, [len(REPEATS)], HELD)
    app0 = states["app-0"]
    expired, emit = expire(app0, app0.expires_at)
    after, cause = due(app0, app0.expires_at)
    assert emit and after.expired and after.tell_at is None and cause == app0.expires_at
    assert after == evolve(expired, tell_at=None)


def test_a_repeat_reaching_the_interval_is_told_and_clears_the_hold():
    story = [("app-0", seen(f"e{n}", host="app-0", at=T0 + s(n))) for n in range(0, 12)]
    told, states = emitted_in_batches(story, [3, 4, 5], HELD)
    assert [t.cause.event_id for t in told] == ["e0", "e5", "e10"]
    assert [t.group.occurrences for t in told] == [1, 6, 11]
    assert states["app-0"].tell_at == T0 + s(15)  # e11 is held


def test_caused_at_inverts_next_sequence():
    at = T0 + timedelta(microseconds=7)
    assert caused_at(next_sequence(0, at)) == at


def test_a_held_repeat_of_an_alert_gone_quiet_is_told_whatever_its_own_times_say():
    _, states = emitted_in_batches(REPEATS, [len(REPEATS)], HELD)
    app0 = states["app-0"]  # held until T0 + 11 s of its own time
    assert due(app0, T0 + s(10)) is None
    after, cause = due(app0, T0 + s(10), quiet=True)  # not seen for the interval by the clock
    assert after.tell_at is None and cause == app0.alert.last_seen
    assert due(states["db-1"], T0 + s(10), quiet=True) is None  # nothing held: nothing to tell
