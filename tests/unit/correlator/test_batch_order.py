"""A batch is correlated in the order its alerts' changes happened, so batch boundaries change nothing a
group's incident shows: not the order of status changes, not the CIs affected at each, not the counts of the
group's alerts when each change happens. Only how many repeats are told depends on them."""

import itertools
from datetime import timedelta

from services.correlator.pipeline import correlate_batch

from .test_correlation import T0, seen, snapshot

# app-0 and app-1 run on host-1: one group. app-0 fires, app-1 fires, app-0 resolves, app-0 fires again.
STORY = [
    ("app-0", seen("e1", host="app-0", at=T0)),
    ("app-1", seen("e2", host="app-1", at=T0 + timedelta(seconds=10))),
    ("app-0", seen("e3", host="app-0", firing=False, at=T0 + timedelta(seconds=20))),
    ("app-0", seen("e4", host="app-0", at=T0 + timedelta(seconds=30))),
]


def s(n: int) -> timedelta:
    return timedelta(seconds=n)


# The same group with repeats between its changes: app-0's repeats straddle app-1's fire and resolve.
REPEATS = [
    ("app-0", seen("r1", host="app-0", at=T0)),
    ("app-0", seen("r2", host="app-0", at=T0 + s(1))),
    ("app-0", seen("r3", host="app-0", at=T0 + s(2))),
    ("app-1", seen("r4", host="app-1", at=T0 + s(3))),
    ("app-0", seen("r5", host="app-0", at=T0 + s(4))),
    ("app-1", seen("r6", host="app-1", at=T0 + s(5))),
    ("app-0", seen("r7", host="app-0", at=T0 + s(6))),
    ("app-1", seen("r8", host="app-1", firing=False, at=T0 + s(7))),
    ("app-0", seen("r9", host="app-0", at=T0 + s(8))),
    ("db-1", seen("r10", host="db-1", at=T0 + s(9))),  # another group: no bearing on host-1's repeats
    ("app-0", seen("r11", host="app-0", at=T0 + s(10))),
]


def emitted_in_batches(story, sizes, snap=None):
    snap, states, groups, out, start = snap or snapshot(), {}, {}, [], 0
    for size in sizes:
        changed, told = correlate_batch(states, story[start : start + size], groups, snap)
        start += size
        states.update({t.alert.fingerprint: t for t in changed})
        out += told
    assert start == len(story)
    return out, states


def splits(n):
    """Every way to cut n sightings into consecutive batches."""
    for cuts in itertools.product((False, True), repeat=n - 1):
        sizes, size = [], 1
        for cut in cuts:
            if cut:
                sizes.append(size)
                size = 0
            size += 1
        yield [*sizes, size]


def what_ticketing_learns(told):
    """Each change other than a repeat, with the counts of its incident's alerts heard of until then."""
    counts, changes, last = {}, [], {}
    for t in told:
        fp, state = t.state.alert.fingerprint, t.state
        repeat = fp in last and last[fp].shown_firing and state.shown_firing and _same_but_count(last[fp], state)
        incident = counts.setdefault(state.incident_key, {})
        incident[fp] = state.alert.occurrences
        last[fp] = state
        if not repeat:
            affected = tuple(sorted(t.group.affected)) if t.group else ()
            changes.append((fp, state.shown_firing, state.incident_key, affected, tuple(sorted(incident.items()))))
    return changes, {fp: n for incident in counts.values() for fp, n in incident.items()}


def _same_but_count(a, b):
    va, vb = a.visible(), b.visible()
    return va[0] == vb[0] and va[2:] == vb[2:]


def test_one_batch_emits_what_one_alert_per_batch_emits_in_the_same_order():
    expected = [
        ("app-0", True, ("app-0",)),
        ("app-1", True, ("app-0", "app-1")),
        ("app-0", False, ("app-0", "app-1")),
        ("app-0", True, ("app-0", "app-1")),
    ]
    for sizes in splits(len(STORY)):
        told, _ = emitted_in_batches(STORY, sizes)
        shown = [(t.state.alert.fingerprint, t.state.shown_firing, tuple(sorted(t.group.affected))) for t in told]
        assert shown == expected, sizes


def test_ticketing_learns_the_same_changes_and_counts_however_the_batches_fall():
    results = {tuple(sizes): emitted_in_batches(REPEATS, sizes) for sizes in splits(len(REPEATS))}
    learned = {sizes: what_ticketing_learns(told) for sizes, (told, _) in results.items()}
    one_by_one = learned[(1,) * len(REPEATS)]
    assert all(v == one_by_one for v in learned.values())
    changes, counts = one_by_one
    assert [c[:2] for c in changes] == [("app-0", True), ("app-1", True), ("app-1", False), ("db-1", True)]
    # app-1's fire shows app-0 seen 3 times; its resolve, app-0 seen 5 times and app-1 twice
    assert dict(changes[1][4]) == {"app-0": 3, "app-1": 1}
    assert dict(changes[2][4]) == {"app-0": 5, "app-1": 2}
    assert counts == {"app-0": 7, "app-1": 2, "db-1": 1}
    assert {fp: t.alert.occurrences for fp, t in results[(len(REPEATS),)][1].items()} == counts


def test_repeats_coalesce_only_between_changes_of_their_incident():
    told, _ = emitted_in_batches(REPEATS, [len(REPEATS)])
    shown = [(t.state.alert.fingerprint, t.state.alert.occurrences, t.cause.event_id) for t in told]
    assert shown == [
        ("app-0", 1, "r1"),
        ("app-0", 3, "r3"),  # r2 and r3: one emission, caused by the last
        ("app-1", 1, "r4"),  # a change of the incident: app-0's repeats before it stay before it
        ("app-1", 2, "r6"),
        ("app-0", 5, "r7"),  # r5 and r7: a repeat of another alert (r6) changes nothing told
        ("app-1", 2, "r8"),
        ("db-1", 1, "r10"),
        ("app-0", 7, "r11"),  # r9 and r11 coalesce across db-1, another incident
    ]


def test_sequences_count_up_per_fingerprint_and_the_stored_state_has_the_last():
    changed, told = correlate_batch({}, STORY, {}, snapshot())
    app0 = [t.sequence for t in told if t.state.alert.fingerprint == "app-0"]
    assert app0 == sorted(app0) and len(set(app0)) == 3
    assert {t.alert.fingerprint: t.alert.sequence for t in changed}["app-0"] == app0[-1]


def test_the_group_count_at_each_change_counts_every_occurrence_however_the_batches_fall():
    """The group count told with each change holds the repeats of the group's other alerts, told or not."""
    counted = {}
    for sizes in splits(len(REPEATS)):
        told, _ = emitted_in_batches(REPEATS, sizes)
        changes = [t for t in told if not _told_as_repeat(t, told)]
        counted[tuple(sizes)] = [
            (t.state.alert.fingerprint, t.state.shown_firing, t.group.occurrences) for t in changes
        ]
    assert len(set(map(tuple, counted.values()))) == 1
    # app-1 fires after app-0's 3 sightings; resolves after app-0's 5 and its own 2; db-1 is a group of its own
    assert counted[(1,) * len(REPEATS)] == [
        ("app-0", True, 1),
        ("app-1", True, 4),
        ("app-1", False, 7),
        ("db-1", True, 1),
    ]
    last = {t.state.incident_key: t.group.occurrences for t in emitted_in_batches(REPEATS, [len(REPEATS)])[0]}
    assert sorted(last.values()) == [1, 9]  # host-1: app-0 seen 7 times, app-1 twice


def _told_as_repeat(t, told):
    before = [u for u in told[: told.index(t)] if u.state.alert.fingerprint == t.state.alert.fingerprint]
    return bool(before) and before[-1].state.shown_firing and _same_but_count(before[-1].state, t.state)


def test_a_resumed_alert_adds_its_new_occurrence_only():
    told, states = emitted_in_batches(STORY, [len(STORY)])
    assert states["app-0"].alert.occurrences == 2  # fired, resolved, fired again within the reopen window
    assert [t.group.occurrences for t in told] == [1, 2, 2, 3]
