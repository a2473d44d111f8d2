"""A batch is correlated in the order its alerts' changes happened, so batch boundaries change nothing a
group's incident shows: not the order of status changes, not the CIs affected at each."""

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


def emitted_in_batches(*sizes: int) -> list[tuple[str, bool, tuple[str, ...]]]:
    snap, states, groups, out, start = snapshot(), {}, {}, [], 0
    for size in sizes:
        sightings: dict = {}
        for fingerprint, sighting in STORY[start : start + size]:
            sightings.setdefault(fingerprint, []).append(sighting)
        start += size
        changed, emitted = correlate_batch(states, sightings, groups, snap)
        states.update({t.alert.fingerprint: t for t in changed})
        out += [(t.alert.fingerprint, t.shown_firing, tuple(sorted(g.affected)) if g else ()) for t, g in emitted]
    return out


def test_one_batch_emits_what_one_alert_per_batch_emits_in_the_same_order():
    expected = [
        ("app-0", True, ("app-0",)),
        ("app-1", True, ("app-0", "app-1")),
        ("app-0", False, ("app-0", "app-1")),
        ("app-0", True, ("app-0", "app-1")),
    ]
    assert emitted_in_batches(1, 1, 1, 1) == expected
    assert emitted_in_batches(4) == expected
    assert emitted_in_batches(2, 2) == expected
    assert emitted_in_batches(1, 3) == expected


def test_sequences_count_up_per_fingerprint_across_the_pieces_of_a_batch():
    snap, sightings = snapshot(), {}
    for fingerprint, sighting in STORY:
        sightings.setdefault(fingerprint, []).append(sighting)
    changed, emitted = correlate_batch({}, sightings, {}, snap)
    app0 = [t.alert.sequence for t, _ in emitted if t.alert.fingerprint == "app-0"]
    assert app0 == sorted(app0) and len(set(app0)) == 3
    assert {t.alert.fingerprint: t.alert.sequence for t in changed}["app-0"] == app0[-1]
