"""Flap detection for one alert (one fingerprint): too many status changes too quickly.

An alert starts flapping when more than `max_changes` status changes fall within `window` (a change
exactly `window` old still counts), and stops after `quiet` with no change at all. Leaving the
flapping state forgets the old changes, so the alert has to earn its flapping status afresh.
The caller keeps one FlapState per alert; any observation, including a repeated status, lets a
quiet period be noticed.
"""

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class FlapPolicy:
    max_changes: int = 4
    window: timedelta = timedelta(minutes=10)
    quiet: timedelta = timedelta(minutes=10)


DEFAULT_FLAP_POLICY = FlapPolicy()


@dataclass(frozen=True, slots=True)
class FlapState:
    status: Hashable | None = None
    changes: tuple[datetime, ...] = ()  # recent change times, oldest first, at most max_changes + 1
    last_change_at: datetime | None = None
    flapping: bool = False


def observe(
    state: FlapState, new_status: Hashable, at: datetime, policy: FlapPolicy = DEFAULT_FLAP_POLICY
) -> tuple[FlapState, bool]:
    last = state.last_change_at
    # Late events must not unsort the history; they count as happening at the latest known change.
    at = max(at, last) if last is not None else at
    flapping, changes = state.flapping, state.changes
    if flapping and at - last >= policy.quiet:
        flapping, changes = False, ()
    if state.status is not None and new_status != state.status:
        changes, last = (*changes, at), at
    changes = _recent(changes, at, policy)
    flapping = flapping or len(changes) > policy.max_changes
    return FlapState(new_status, changes, last, flapping), flapping


def _recent(changes: tuple[datetime, ...], at: datetime, policy: FlapPolicy) -> tuple[datetime, ...]:
    # Only whether more than max_changes fit in the window matters, so older entries are dropped.
    oldest = at - policy.window
    kept = tuple(t for t in changes if t >= oldest)
    return kept[-(policy.max_changes + 1) :]
