"""SLA clocks: how much of an incident's response and resolution targets has been used.

Pure time arithmetic: every instant is a timezone-aware datetime passed in by the caller
(`now` included), and all durations are working time under a BusinessCalendar.

Persisting SLA state: the caller stores, per clock, the highest fraction it has evaluated
(`SlaEvaluation.recorded`) and passes it back as `previous` next time. Crossings are emitted
only above that mark, so each warning and the breach fire exactly once, and a breach once
recorded is never un-recorded, even if the target later grows (a priority downgrade).

Building clocks from incident history: the response clock stops at the first move out of
`new` (acknowledge, assign, resolve, cancel). The resolution clock stops at resolve and pauses
for each on-hold interval. On reopen, clear stopped_at and record (resolved_at, reopened_at) as
one more pause, so time spent resolved does not count against the incident.
"""

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
_ZERO = timedelta(0)

Pause = tuple[datetime, datetime | None]


@dataclass(frozen=True)
class BusinessCalendar:
    """When SLA time runs: working hours per weekday in a timezone, minus holidays.

    hours maps weekday (0=Monday) to local (start, end); an end of 00:00 means midnight at
    the end of that day, so (00:00, 00:00) is the whole day. Weekdays not listed have no
    working time. Working time is real elapsed time inside those local windows, so a 24h
    day that loses an hour to DST holds 23 hours. Local times that DST skips or repeats
    resolve as zoneinfo does with fold=0 (the earlier offset).
    """

    timezone: str
    hours: Mapping[int, tuple[time, time]]
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    # Every moment counts, so working time is plain elapsed time (asked on every SLA evaluation: computed once).
    always_working: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        hours = {day: _checked_window(day, window) for day, window in self.hours.items()}
        if not hours:
            raise ValueError("a business calendar needs working hours on at least one weekday")
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "hours", MappingProxyType(hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        whole_days = all(start == end == _MIDNIGHT for start, end in hours.values())
        object.__setattr__(self, "always_working", not self.holidays and len(hours) == 7 and whole_days)

    def __hash__(self) -> int:
        return hash((self.timezone, tuple(sorted(self.hours.items())), self.holidays))

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants (end must not precede start)."""
        _require_aware(start, end)
        if end < start:
            raise ValueError(f"end {end.isoformat()} precedes start {start.isoformat()}")
        if self.always_working:
            return end - start
        total = _ZERO
        for opens, shuts in self._windows(self._local_day(start) - _DAY):
            if opens >= end:
                return total
            total += max(_ZERO, min(shuts, end) - max(opens, start))
        raise AssertionError("unreachable: _windows is endless")

    def add(self, instant: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which `duration` of working time has passed since `instant`."""
        _require_aware(instant)
        if duration < _ZERO:
            raise ValueError("cannot add a negative working duration")
        if self.always_working or not duration:
            return instant + duration
        remaining = duration
        for opens, shuts in self._windows(self._local_day(instant) - _DAY):
            available = shuts - max(opens, instant)
            if available <= _ZERO:
                continue
            if remaining <= available:
                return max(opens, instant) + remaining
            remaining -= available
        raise AssertionError("unreachable: _windows is endless")

    def _windows(self, first_day: date) -> Iterator[tuple[datetime, datetime]]:
        # One step per calendar day, never per minute: months of span stay cheap.
        # Terminates for callers because at least one weekday has hours and holidays are finite.
        day = first_day
        while True:
            window = self.hours.get(day.weekday())
            if window is not None and day not in self.holidays:
                start, end = window
                yield self._instant(day, start), self._instant(day + _DAY if end == _MIDNIGHT else day, end)
            day += _DAY

    def _instant(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self._zone).astimezone(UTC)

    def _local_day(self, instant: datetime) -> date:
        return instant.astimezone(self._zone).date()


def _checked_window(day: int, window: tuple[time, time]) -> tuple[time, time]:
    if day not in range(7):
        raise ValueError(f"weekday {day!r} is outside 0 (Monday) .. 6 (Sunday)")
    start, end = window
    if start.tzinfo or end.tzinfo:
        raise ValueError(f"working hours for weekday {day} must be local times without tzinfo")
    if end != _MIDNIGHT and end <= start:
        raise ValueError(f"working hours for weekday {day} end ({end}) before they start ({start})")
    return start, end


TWENTY_FOUR_SEVEN = BusinessCalendar("UTC", {day: (_MIDNIGHT, _MIDNIGHT) for day in range(7)})


def _require_aware(*instants: datetime) -> None:
    for instant in instants:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"naive datetime {instant.isoformat()}; SLA time must be timezone-aware")


@dataclass(frozen=True)
class SlaPolicy:
    """Response and resolution targets for one priority, counted in `calendar` working time."""

    priority: int
    response: timedelta
    resolution: timedelta
    calendar: BusinessCalendar = TWENTY_FOUR_SEVEN

    def __post_init__(self) -> None:
        if not 1 <= self.priority <= 5:
            raise ValueError(f"priority {self.priority!r} is outside 1..5")
        if self.response <= _ZERO or self.resolution <= _ZERO:
            raise ValueError(f"P{self.priority} SLA targets must be positive")


DEFAULT_POLICIES: Mapping[int, SlaPolicy] = MappingProxyType(
    {
        policy.priority: policy
        for policy in (
            SlaPolicy(1, timedelta(minutes=15), timedelta(hours=4)),
            SlaPolicy(2, timedelta(minutes=30), timedelta(hours=8)),
            SlaPolicy(3, timedelta(hours=4), timedelta(hours=24)),
            SlaPolicy(4, timedelta(hours=8), timedelta(hours=72)),
            SlaPolicy(5, timedelta(hours=24), timedelta(hours=120)),
        )
    }
)


class ClockKind(StrEnum):
    RESPONSE = "response"  # stops when someone first takes the incident on
    RESOLUTION = "resolution"  # stops at resolve; pauses while on hold


@dataclass(frozen=True)
class SlaClock:
    """One SLA clock of one incident.

    pauses are (start, end or None while still paused) intervals; they may overlap or start
    before the clock, and are clipped to it. Only the resolution clock pauses: waiting on
    the customer should not count against resolving, but nothing excuses a late response.
    """

    kind: ClockKind
    started_at: datetime
    target: timedelta
    calendar: BusinessCalendar = TWENTY_FOUR_SEVEN
    pauses: tuple[Pause, ...] = ()
    stopped_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "pauses", tuple((start, end) for start, end in self.pauses))
        _require_aware(self.started_at, *(i for pause in self.pauses for i in pause if i is not None))
        if self.target <= _ZERO:
            raise ValueError("an SLA target must be positive")
        if self.kind is ClockKind.RESPONSE and self.pauses:
            raise ValueError("the response clock does not pause")
        if any(end is not None and end < start for start, end in self.pauses):
            raise ValueError("a pause cannot end before it starts")
        if sum(end is None for _, end in self.pauses) > 1:
            raise ValueError("at most one pause can still be open")
        if self.stopped_at is not None:
            _require_aware(self.stopped_at)
            if self.stopped_at < self.started_at:
                raise ValueError("an SLA clock cannot stop before it starts")

    @classmethod
    def response(cls, policy: SlaPolicy, started_at: datetime, responded_at: datetime | None = None) -> "SlaClock":
        return cls(ClockKind.RESPONSE, started_at, policy.response, policy.calendar, (), responded_at)

    @classmethod
    def resolution(
        cls,
        policy: SlaPolicy,
        started_at: datetime,
        holds: Iterable[Pause] = (),
        resolved_at: datetime | None = None,
    ) -> "SlaClock":
        return cls(ClockKind.RESOLUTION, started_at, policy.resolution, policy.calendar, tuple(holds), resolved_at)


def elapsed(clock: SlaClock, now: datetime) -> timedelta:
    """Working time the clock has run by `now` (zero if `now` precedes its start)."""
    _require_aware(now)
    end = now if clock.stopped_at is None else min(now, clock.stopped_at)
    if end <= clock.started_at:
        return _ZERO
    paused = sum((clock.calendar.working_time(start, stop) for start, stop in _pauses_within(clock, end)), _ZERO)
    return clock.calendar.working_time(clock.started_at, end) - paused


def fraction(clock: SlaClock, now: datetime) -> float:
    """Share of the target used by `now`: 1.0 exactly when the target is reached."""
    return elapsed(clock, now) / clock.target


def is_paused(clock: SlaClock, now: datetime) -> bool:
    """Inside a pause at `now` and not yet stopped."""
    if clock.stopped_at is not None and clock.stopped_at <= now:
        return False
    return any(start <= now and (end is None or now < end) for start, end in clock.pauses)


def due_at(clock: SlaClock, at_fraction: float = 1.0) -> datetime | None:
    """The instant the clock reaches `at_fraction` of its target (default: the deadline).

    Accounts for the pauses recorded so far and ignores stopped_at (a stopped clock still
    has a deadline it met or missed). Returns None while a pause is open and the point has
    not been reached before it: the deadline is unknown until the hold ends. Use
    at_fraction=0.75 etc. to schedule a timer for a warning threshold.
    """
    if at_fraction <= 0:
        raise ValueError("at_fraction must be positive")
    remaining = _needed(clock.target, at_fraction)
    cursor = clock.started_at
    for start, end in _merged(clock.pauses, clock.started_at):
        running = clock.calendar.working_time(cursor, start) if start > cursor else _ZERO
        if remaining <= running:
            return clock.calendar.add(cursor, remaining)
        remaining -= running
        if end is None:
            return None
        cursor = max(cursor, end)
    return clock.calendar.add(cursor, remaining)


def _needed(target: timedelta, share: float) -> timedelta:
    # Smallest whole microsecond count whose fraction of target is >= share, so fraction()
    # evaluated at due_at() is never a float hair below the threshold.
    whole = target // timedelta(microseconds=1)
    needed = math.ceil(whole * share)
    while needed / whole < share:
        needed += 1
    while needed > 1 and (needed - 1) / whole >= share:
        needed -= 1
    return timedelta(microseconds=needed)


def _merged(pauses: Sequence[Pause], not_before: datetime) -> list[Pause]:
    """Pauses clipped to start no earlier than `not_before`, sorted, overlaps joined."""
    merged: list[Pause] = []
    for start, end in sorted(pauses, key=lambda pause: pause[0]):
        start = max(start, not_before)
        if end is not None and end <= start:
            continue
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, None if None in (last_end, end) else max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _pauses_within(clock: SlaClock, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    for start, stop in _merged(clock.pauses, clock.started_at):
        stop = end if stop is None else min(stop, end)
        if start < stop:
            yield start, stop


class SignalKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


@dataclass(frozen=True)
class Thresholds:
    """Fractions of the target that raise a warning, and the one that is a breach."""

    warnings: tuple[float, ...] = (0.75, 0.90)
    breach: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "warnings", tuple(self.warnings))
        points = (*self.warnings, self.breach)
        if any(point <= 0 for point in points) or any(a >= b for a, b in pairwise(points)):
            raise ValueError(f"thresholds must be positive and strictly increasing, breach last: {points}")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class SlaSignal:
    kind: SignalKind
    threshold: float
    clock: ClockKind | None = None


def crossings(
    previous_fraction: float,
    current_fraction: float,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    clock: ClockKind | None = None,
) -> list[SlaSignal]:
    """Thresholds crossed since the previous evaluation, in ascending order.

    A threshold counts as crossed once the fraction reaches it (>=), so a clock standing at
    exactly 1.0 is breached. Pass the highest fraction already evaluated as previous_fraction;
    a current fraction at or below it yields nothing.
    """
    signals = [SlaSignal(SignalKind.WARNING, point, clock) for point in thresholds.warnings]
    signals.append(SlaSignal(SignalKind.BREACH, thresholds.breach, clock))
    return [signal for signal in signals if previous_fraction < signal.threshold <= current_fraction]


class SlaState(StrEnum):
    IN_PROGRESS = "in_progress"
    WARNING = "warning"
    BREACHED = "breached"
    ACHIEVED = "achieved"
    PAUSED = "paused"


def state(
    clock: SlaClock, now: datetime, thresholds: Thresholds = DEFAULT_THRESHOLDS, recorded: float = 0.0
) -> SlaState:
    """Where the clock stands; `recorded` (the persisted high-water fraction) keeps a breach."""
    reached = max(fraction(clock, now), recorded)
    if reached >= thresholds.breach:
        return SlaState.BREACHED
    if clock.stopped_at is not None and clock.stopped_at <= now:
        return SlaState.ACHIEVED
    if is_paused(clock, now):
        return SlaState.PAUSED
    if thresholds.warnings and reached >= thresholds.warnings[0]:
        return SlaState.WARNING
    return SlaState.IN_PROGRESS


@dataclass(frozen=True)
class SlaEvaluation:
    fraction: float  # at `now`
    recorded: float  # persist this and pass it back as `previous`
    state: SlaState
    signals: tuple[SlaSignal, ...]


def evaluate(
    clock: SlaClock, now: datetime, previous: float = 0.0, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> SlaEvaluation:
    """One timer tick for one clock: its state and the signals not emitted before.

    A stopped clock emits only a breach: warning someone about an incident already
    acknowledged or resolved is noise, but a missed target is still a fact to report.
    """
    current = fraction(clock, now)
    signals = crossings(previous, current, thresholds, clock.kind)
    if clock.stopped_at is not None and clock.stopped_at <= now:
        signals = [signal for signal in signals if signal.kind is SignalKind.BREACH]
    recorded = max(previous, current)
    return SlaEvaluation(current, recorded, state(clock, now, thresholds, recorded), tuple(signals))
