"""Dedup: one state per fingerprint; repeats bump the count, a second copy of an event changes nothing.

A resolved alert that fires again within the reopen window (measured from its resolve) keeps its identity: it
resumes, with its first-seen time and its count going on. Later than that it is a new occurrence: first seen
now, counted from 1. Either way the fingerprint, and so the state, stays the same.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.shared.frozen import evolve

# How many recent event ids each alert remembers, to drop copies a producer retry wrote twice.
RECENT_EVENTS = 32
DEFAULT_REOPEN_WINDOW = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Observation:
    """The part of an inbound Alert that dedup needs."""

    event_id: str
    firing: bool
    severity: int
    title: str
    description: str
    source: str
    labels: Mapping[str, str]
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertState:
    fingerprint: str
    firing: bool
    severity: int
    title: str
    description: str
    source: str
    labels: Mapping[str, str]
    first_seen: datetime
    last_seen: datetime
    occurrences: int  # firing occurrences since it (re)opened
    sequence: int  # of the last emission downstream (see next_sequence)
    recent_event_ids: tuple[str, ...] = ()


def observe(
    state: AlertState | None, fingerprint: str, obs: Observation, reopen_window: timedelta = DEFAULT_REOPEN_WINDOW
) -> AlertState | None:
    """The state after one observation. A resolve for an alert never seen firing leaves nothing to track."""
    if state is not None and obs.event_id in state.recent_event_ids:
        return state
    recent = ((state.recent_event_ids if state is not None else ()) + (obs.event_id,))[-RECENT_EVENTS:]
    if obs.firing:
        return _fire(state, fingerprint, obs, reopen_window, recent)
    if state is None:
        return None
    if state.firing:
        return evolve(state, firing=False, last_seen=obs.at, recent_event_ids=recent)
    return evolve(state, recent_event_ids=recent)


def resumes(state: AlertState, at: datetime, reopen_window: timedelta) -> bool:
    """Whether a re-fire at `at` of the resolved `state` is the same occurrence going on."""
    return not state.firing and at - state.last_seen < reopen_window


def _fire(
    state: AlertState | None, fingerprint: str, obs: Observation, reopen_window: timedelta, recent: tuple[str, ...]
) -> AlertState:
    shown = {
        "severity": obs.severity,
        "title": obs.title,
        "description": obs.description,
        "source": obs.source,
        "labels": obs.labels,
        "last_seen": obs.at,
        "recent_event_ids": recent,
    }
    if state is None:
        return AlertState(fingerprint=fingerprint, firing=True, first_seen=obs.at, occurrences=1, sequence=0, **shown)
    if not state.firing and not resumes(state, obs.at, reopen_window):  # a new occurrence: counted afresh
        return evolve(state, firing=True, first_seen=obs.at, occurrences=1, **shown)
    # A duplicate, or a re-fire inside the reopen window: the occurrence goes on.
    return evolve(state, firing=True, occurrences=state.occurrences + 1, **shown)


def next_sequence(previous: int, caused_at: datetime) -> int:
    """The sequence of an emission caused at `caused_at` (the newest alert time it carries, or an expiry time):
    that time in microseconds, or one past the previous when clocks tie or run backwards. Counting emissions
    instead would depend on batch boundaries, so a correlator rebuilt by replaying the topic would number below
    what ticketing already applied, and ticketing would drop its updates as old."""
    return max(previous + 1, (caused_at - _EPOCH) // _MICROSECOND)


def caused_at(sequence: int) -> datetime:
    """The time of what caused the emission numbered `sequence` (next_sequence's inverse, to the microsecond)."""
    return _EPOCH + sequence * _MICROSECOND


def observe_all(
    state: AlertState | None,
    fingerprint: str,
    observations: Iterable[Observation],
    reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
) -> AlertState | None:
    """Coalesce a batch's observations of one fingerprint, in order."""
    for obs in observations:
        state = observe(state, fingerprint, obs, reopen_window)
    return state


def incident_visible(state: AlertState) -> tuple[object, ...]:
    return (state.firing, state.occurrences, state.severity, state.title, state.first_seen)


def needs_emission(before: AlertState | None, after: AlertState | None) -> bool:
    """Downstream hears of a new alert, a status change, or anything else an incident shows."""
    if after is None:
        return False
    if before is None:
        return after.firing
    return incident_visible(before) != incident_visible(after)
