"""Change and maintenance windows: is an alert on this CI expected right now?

A window covers its CIs and every CI that depends on them (cmdb.dependents: runs_on, depends_on,
part_of, transitively), from start (inclusive) to end (exclusive). Only changes in an approved or
in-progress state cover anything; a change overrunning its planned end is no longer covered.

When several windows cover a CI at once: suppress beats mark, then a window on the CI itself beats one
inherited from a CI it depends on, then a change beats a maintenance window, then the lowest id.
"""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.correlator.cmdb import Cmdb

COVERING_CHANGE_STATES = frozenset({"approved", "in_progress"})


class WindowPolicy(StrEnum):
    SUPPRESS = "suppress"  # no incident is opened
    MARK = "mark"  # the incident is opened, flagged as expected


class WindowInvalid(ValueError):
    def __init__(self, window_id: str, field: str, reason: str) -> None:
        super().__init__(f"window {window_id!r}, {field}: {reason}")
        self.window_id, self.field, self.reason = window_id, field, reason


@dataclass(frozen=True, slots=True)
class Change:
    id: str
    ci_ids: tuple[str, ...]
    planned_start: datetime
    planned_end: datetime
    state: str
    policy: WindowPolicy | str = WindowPolicy.MARK


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    id: str
    ci_ids: tuple[str, ...]
    start: datetime
    end: datetime
    policy: WindowPolicy | str = WindowPolicy.SUPPRESS


@dataclass(frozen=True, slots=True)
class WindowMatch:
    """Exactly one of change_id / window_id is set; ci_id is the CI the window was declared on."""

    change_id: str | None
    window_id: str | None
    policy: WindowPolicy
    ci_id: str
    inherited: bool  # the alerting CI depends on ci_id rather than being it


@dataclass(frozen=True, slots=True)
class _Cover:
    start: datetime
    end: datetime
    rank: tuple  # smaller wins
    match: WindowMatch


class WindowIndex:
    """Per CI, the windows covering it sorted by start: a lookup is one dict get plus a bisect.
    Rebuild it when changes or windows change; load only windows that have not ended, so each CI's
    list stays short."""

    def __init__(self, covers: dict[str, tuple[_Cover, ...]]) -> None:
        self._covers = covers
        self._starts = {ci_id: tuple(c.start for c in cs) for ci_id, cs in covers.items()}

    @classmethod
    def build(cls, changes: Iterable[Change], windows: Iterable[MaintenanceWindow], cmdb: Cmdb) -> "WindowIndex":
        spans = [_change_span(c) for c in changes if normalised_state(c.state) in COVERING_CHANGE_STATES]
        spans += [_window_span(w) for w in windows]
        covers: dict[str, list[_Cover]] = {}
        dependents: dict[str, frozenset[str]] = {}  # a CI under several windows is walked once
        for span in spans:
            for target in span.ci_ids:
                if target not in dependents:
                    dependents[target] = cmdb.dependents(target)
                for ci_id in (target, *sorted(dependents[target])):
                    covers.setdefault(ci_id, []).append(span.cover(target, ci_id))
        return cls({ci_id: tuple(sorted(cs, key=_start_then_rank)) for ci_id, cs in covers.items()})

    def active_for(self, ci_id: str, at: datetime) -> WindowMatch | None:
        covers = self._covers.get(ci_id)
        if covers is None:
            return None
        best = None
        for i in range(bisect_right(self._starts[ci_id], at)):
            cover = covers[i]
            if at < cover.end and (best is None or cover.rank < best.rank):
                best = cover
        return best.match if best else None


def normalised_state(state: str) -> str:
    """'In Progress', 'in-progress' and 'IN_PROGRESS' are the same state."""
    return state.strip().casefold().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True, slots=True)
class _Span:
    change_id: str | None
    window_id: str | None
    ci_ids: tuple[str, ...]
    start: datetime
    end: datetime
    policy: WindowPolicy

    def cover(self, target: str, ci_id: str) -> _Cover:
        inherited = ci_id != target
        is_change = self.change_id is not None
        source_id = self.change_id or self.window_id
        rank = (self.policy is not WindowPolicy.SUPPRESS, inherited, not is_change, source_id, target)
        match = WindowMatch(self.change_id, self.window_id, self.policy, target, inherited)
        return _Cover(self.start, self.end, rank, match)


def _start_then_rank(cover: _Cover) -> tuple:
    return cover.start, cover.rank


def _change_span(c: Change) -> _Span:
    start, end = _checked_times(c.id, ("planned_start", "planned_end"), c.planned_start, c.planned_end)
    return _Span(c.id, None, tuple(c.ci_ids), start, end, _policy(c.id, c.policy))


def _window_span(w: MaintenanceWindow) -> _Span:
    start, end = _checked_times(w.id, ("start", "end"), w.start, w.end)
    return _Span(None, w.id, tuple(w.ci_ids), start, end, _policy(w.id, w.policy))


def _checked_times(window_id: str, fields: tuple[str, str], start: datetime, end: datetime) -> tuple:
    for name, value in zip(fields, (start, end), strict=True):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise WindowInvalid(window_id, name, "must be a timezone-aware datetime")
    if end < start:
        raise WindowInvalid(window_id, fields[1], "ends before it starts")
    return start, end


def _policy(window_id: str, policy: WindowPolicy | str) -> WindowPolicy:
    try:
        return WindowPolicy(policy)
    except ValueError:
        raise WindowInvalid(window_id, "policy", f"{policy!r} is not suppress or mark") from None
