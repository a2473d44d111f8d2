import time as stopwatch
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ticketing.sla import (
    DEFAULT_POLICIES,
    DEFAULT_THRESHOLDS,
    TWENTY_FOUR_SEVEN,
    BusinessCalendar,
    ClockKind,
    SignalKind,
    SlaClock,
    SlaPolicy,
    SlaSignal,
    SlaState,
    Thresholds,
    crossings,
    due_at,
    elapsed,
    evaluate,
    fraction,
    is_paused,
    state,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
US = timedelta(microseconds=1)
NINE_TO_FIVE = {day: (time(9), time(17)) for day in range(5)}
OFFICE = BusinessCalendar("Europe/Berlin", NINE_TO_FIVE)
OFFICE_XMAS = BusinessCalendar("Europe/Berlin", NINE_TO_FIVE, frozenset({date(2024, 12, 25), date(2024, 12, 26)}))
# Whole days, but one (irrelevant) holiday so the day-by-day path runs instead of the 24x7 shortcut.
BERLIN_ALL_DAY = BusinessCalendar(
    "Europe/Berlin", {day: (time(0), time(0)) for day in range(7)}, frozenset({date(1999, 1, 1)})
)
T0 = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)  # a Monday


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


def resolution(target=4 * H, pauses=(), stopped_at=None, calendar=TWENTY_FOUR_SEVEN, started_at=T0):
    return SlaClock(ClockKind.RESOLUTION, started_at, target, calendar, tuple(pauses), stopped_at)


# --- calendars -------------------------------------------------------------------------------


def test_twenty_four_seven_is_plain_elapsed_time():
    assert TWENTY_FOUR_SEVEN.always_working
    assert TWENTY_FOUR_SEVEN.working_time(T0, T0 + 50 * H) == 50 * H
    assert TWENTY_FOUR_SEVEN.add(T0, 50 * H) == T0 + 50 * H


def test_business_hours_within_a_day_and_outside():
    assert OFFICE.working_time(berlin(2024, 6, 3, 10), berlin(2024, 6, 3, 12)) == 2 * H
    assert OFFICE.working_time(berlin(2024, 6, 3, 6), berlin(2024, 6, 3, 20)) == 8 * H
    assert OFFICE.working_time(berlin(2024, 6, 3, 18), berlin(2024, 6, 3, 23)) == timedelta(0)


def test_weekend_does_not_count():
    friday_4pm, monday_10am = berlin(2024, 6, 7, 16), berlin(2024, 6, 10, 10)
    assert OFFICE.working_time(friday_4pm, monday_10am) == 2 * H
    assert OFFICE.add(friday_4pm, 2 * H) == monday_10am


def test_holidays_do_not_count():
    christmas_eve_4pm, friday_10am = berlin(2024, 12, 24, 16), berlin(2024, 12, 27, 10)
    assert OFFICE_XMAS.working_time(christmas_eve_4pm, friday_10am) == 2 * H
    assert OFFICE_XMAS.add(christmas_eve_4pm, 2 * H) == friday_10am
    assert OFFICE.add(christmas_eve_4pm, 2 * H) == berlin(2024, 12, 25, 10)


def test_add_from_outside_hours_starts_at_next_opening():
    assert OFFICE.add(berlin(2024, 6, 8, 12), 30 * timedelta(minutes=1)) == berlin(2024, 6, 10, 9, 30)
    assert OFFICE.add(berlin(2024, 6, 3, 7), 8 * H) == berlin(2024, 6, 3, 17)  # lands on closing time


def test_add_zero_is_identity_even_outside_hours():
    saturday = berlin(2024, 6, 8, 12)
    assert OFFICE.add(saturday, timedelta(0)) == saturday


def test_business_hours_over_spring_dst_change():
    # Clocks jump from 02:00 CET to 03:00 CEST on Sunday 2024-03-31; the UTC offset changes over the weekend.
    friday_4pm = datetime(2024, 3, 29, 15, tzinfo=UTC)  # 16:00 CET
    monday_10am = datetime(2024, 4, 1, 8, tzinfo=UTC)  # 10:00 CEST
    assert OFFICE.add(friday_4pm, 2 * H) == monday_10am
    assert OFFICE.working_time(friday_4pm, monday_10am) == 2 * H
    assert OFFICE.working_time(berlin(2024, 3, 25), berlin(2024, 4, 1)) == 40 * H


def test_whole_days_follow_dst_in_real_hours():
    assert BERLIN_ALL_DAY.working_time(berlin(2024, 3, 31), berlin(2024, 4, 1)) == 23 * H
    assert BERLIN_ALL_DAY.working_time(berlin(2024, 10, 27), berlin(2024, 10, 28)) == 25 * H
    saturday_noon = datetime(2024, 3, 30, 11, tzinfo=UTC)  # 12:00 CET
    assert BERLIN_ALL_DAY.add(saturday_noon, 24 * H) == datetime(2024, 3, 31, 11, tzinfo=UTC)  # 13:00 CEST


def test_evening_window_ending_at_midnight():
    evenings = BusinessCalendar("UTC", {5: (time(18), time(0))})
    saturday = datetime(2024, 6, 8, tzinfo=UTC)
    assert evenings.working_time(saturday, saturday + 7 * timedelta(days=1)) == 6 * H
    assert evenings.add(saturday, 6 * H) == datetime(2024, 6, 9, tzinfo=UTC)


def test_a_year_of_business_hours_is_fast_and_exact():
    started = stopwatch.perf_counter()
    year = OFFICE.working_time(berlin(2024, 1, 1), berlin(2025, 1, 1))
    due = OFFICE.add(berlin(2024, 1, 1), 262 * 8 * H)
    assert stopwatch.perf_counter() - started < 0.5
    assert year == 262 * 8 * H  # 2024 has 262 weekdays
    assert due == berlin(2024, 12, 31, 17)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus", "hours": NINE_TO_FIVE}, "unknown timezone"),
        ({"timezone": "UTC", "hours": {}}, "at least one weekday"),
        ({"timezone": "UTC", "hours": {7: (time(9), time(17))}}, "weekday 7"),
        ({"timezone": "UTC", "hours": {0: (time(17), time(9))}}, "end"),
        ({"timezone": "UTC", "hours": {0: (time(9), time(9))}}, "end"),
    ],
)
def test_calendar_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)


def test_calendar_rejects_naive_and_backwards_instants():
    with pytest.raises(ValueError, match="naive"):
        OFFICE.working_time(datetime(2024, 6, 3), T0)
    with pytest.raises(ValueError, match="precedes"):
        OFFICE.working_time(T0 + H, T0)
    with pytest.raises(ValueError, match="negative"):
        OFFICE.add(T0, -H)


instants = st.datetimes(datetime(2024, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC))
durations = st.timedeltas(timedelta(0), timedelta(days=60))
calendars = st.sampled_from([OFFICE, OFFICE_XMAS, BERLIN_ALL_DAY, TWENTY_FOUR_SEVEN])


@given(calendars, instants, durations)
def test_add_then_measure_round_trips(calendar, start, duration):
    due = calendar.add(start, duration)
    assert calendar.working_time(start, due) == duration
    if duration:  # and it is the earliest such instant
        assert calendar.working_time(start, due - US) < duration


@given(calendars, instants, instants)
def test_measure_then_add_lands_at_or_before(calendar, a, b):
    start, end = min(a, b), max(a, b)
    reached = calendar.add(start, calendar.working_time(start, end))
    assert reached <= end
    assert calendar.working_time(reached, end) == timedelta(0)


@given(calendars, instants, instants, instants)
def test_working_time_is_additive(calendar, a, b, c):
    a, b, c = sorted((a, b, c))
    assert calendar.working_time(a, c) == calendar.working_time(a, b) + calendar.working_time(b, c)


# --- policies and clocks -----------------------------------------------------------------------


def test_default_policies():
    targets = {p: (policy.response, policy.resolution) for p, policy in DEFAULT_POLICIES.items()}
    assert targets == {
        1: (15 * timedelta(minutes=1), 4 * H),
        2: (30 * timedelta(minutes=1), 8 * H),
        3: (4 * H, 24 * H),
        4: (8 * H, 72 * H),
        5: (24 * H, 120 * H),
    }
    assert all(policy.calendar is TWENTY_FOUR_SEVEN for policy in DEFAULT_POLICIES.values())


def test_policy_validation():
    with pytest.raises(ValueError):
        SlaPolicy(6, H, H)
    with pytest.raises(ValueError):
        SlaPolicy(1, timedelta(0), H)


def test_running_clock():
    clock = SlaClock.resolution(DEFAULT_POLICIES[1], T0)
    assert elapsed(clock, T0 + H) == H
    assert fraction(clock, T0 + H) == 0.25
    assert due_at(clock) == T0 + 4 * H
    assert elapsed(clock, T0 - H) == timedelta(0)  # a caller clock behind ours is not negative time


def test_hold_pauses_resolution_clock():
    clock = SlaClock.resolution(DEFAULT_POLICIES[3], T0, holds=[(T0 + 2 * H, T0 + 4 * H)])
    assert elapsed(clock, T0 + 3 * H) == 2 * H
    assert elapsed(clock, T0 + 5 * H) == 3 * H
    assert due_at(clock) == T0 + 26 * H
    assert not is_paused(clock, T0 + 4 * H)


def test_open_hold_freezes_clock_and_hides_due():
    clock = SlaClock.resolution(DEFAULT_POLICIES[3], T0, holds=[(T0 + 2 * H, None)])
    assert elapsed(clock, T0 + 2 * H) == elapsed(clock, T0 + 20 * H) == 2 * H
    assert is_paused(clock, T0 + 20 * H)
    assert state(clock, T0 + 20 * H) is SlaState.PAUSED
    assert due_at(clock) is None  # unknown until the hold ends
    assert due_at(clock, at_fraction=0.05) == T0 + 72 * timedelta(minutes=1)  # reached before the hold


def test_overlapping_and_early_pauses_are_merged_and_clipped():
    clock = resolution(pauses=[(T0 - H, T0 + H), (T0 + 2 * H, T0 + 4 * H), (T0 + 3 * H, T0 + 5 * H)])
    assert elapsed(clock, T0 + 6 * H) == 2 * H
    assert due_at(clock) == T0 + 8 * H  # runs 1h-2h, then 5h-8h


def test_resolve_while_on_hold_stops_the_clock():
    clock = resolution(pauses=[(T0 + H, None)], stopped_at=T0 + 3 * H)
    assert elapsed(clock, T0 + 10 * H) == H
    assert not is_paused(clock, T0 + 10 * H)
    assert state(clock, T0 + 10 * H) is SlaState.ACHIEVED


def test_response_clock_stops_at_acknowledge_and_never_pauses():
    clock = SlaClock.response(DEFAULT_POLICIES[2], T0, responded_at=T0 + 20 * timedelta(minutes=1))
    assert fraction(clock, T0 + 5 * H) == pytest.approx(2 / 3)
    assert state(clock, T0 + 5 * H) is SlaState.ACHIEVED
    with pytest.raises(ValueError, match="does not pause"):
        SlaClock(ClockKind.RESPONSE, T0, H, pauses=((T0, None),))


def test_late_stop_is_breached():
    clock = SlaClock.response(DEFAULT_POLICIES[1], T0, responded_at=T0 + H)
    assert state(clock, T0 + 2 * H) is SlaState.BREACHED


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target": timedelta(0)},
        {"pauses": [(T0 + H, T0)]},
        {"pauses": [(T0, None), (T0 + H, None)]},
        {"stopped_at": T0 - H},
        {"started_at": datetime(2024, 6, 3)},
    ],
)
def test_clock_validation(kwargs):
    with pytest.raises(ValueError):
        resolution(**kwargs)


def test_business_hours_clock_over_dst_weekend():
    policy = SlaPolicy(3, 4 * H, 24 * H, OFFICE)
    clock = SlaClock.response(policy, datetime(2024, 3, 29, 15, tzinfo=UTC))  # Fri 16:00 CET
    assert due_at(clock) == datetime(2024, 4, 1, 10, tzinfo=UTC)  # Mon 12:00 CEST
    assert fraction(clock, datetime(2024, 3, 31, 12, tzinfo=UTC)) == 0.25  # Sunday: still one hour


def test_business_hours_clock_with_hold_and_holiday():
    policy = SlaPolicy(3, 4 * H, 8 * H, OFFICE_XMAS)
    started = berlin(2024, 12, 23, 9)
    clock = SlaClock.resolution(policy, started, holds=[(berlin(2024, 12, 23, 13), berlin(2024, 12, 24, 13))])
    # Mon 09-13 (4h), hold until Tue 13:00, Tue 13-17 (4h) reaches 8h.
    assert due_at(clock) == berlin(2024, 12, 24, 17)
    assert fraction(clock, berlin(2024, 12, 24, 15)) == 0.75


# --- thresholds, crossings, evaluation -----------------------------------------------------------


def test_warnings_and_breach_at_exact_boundaries():
    clock = SlaClock.resolution(DEFAULT_POLICIES[1], T0)  # 4h
    at_75, at_90, at_100 = T0 + 3 * H, T0 + 216 * timedelta(minutes=1), T0 + 4 * H
    assert evaluate(clock, at_75 - US).signals == ()
    tick = evaluate(clock, at_75)
    assert tick.signals == (SlaSignal(SignalKind.WARNING, 0.75, ClockKind.RESOLUTION),)
    assert tick.state is SlaState.WARNING
    assert evaluate(clock, at_90 - US, tick.recorded).signals == ()
    tick = evaluate(clock, at_90, tick.recorded)
    assert [s.threshold for s in tick.signals] == [0.9]
    tick = evaluate(clock, at_100 - US, tick.recorded)
    assert tick.signals == () and tick.state is SlaState.WARNING
    tick = evaluate(clock, at_100, tick.recorded)
    assert tick.fraction == 1.0
    assert tick.signals == (SlaSignal(SignalKind.BREACH, 1.0, ClockKind.RESOLUTION),)
    assert tick.state is SlaState.BREACHED
    assert evaluate(clock, at_100 + H, tick.recorded).signals == ()


def test_one_late_evaluation_emits_every_crossing_in_order():
    clock = SlaClock.resolution(DEFAULT_POLICIES[1], T0)
    tick = evaluate(clock, T0 + 5 * H)
    assert [(s.kind, s.threshold) for s in tick.signals] == [
        (SignalKind.WARNING, 0.75),
        (SignalKind.WARNING, 0.9),
        (SignalKind.BREACH, 1.0),
    ]
    assert evaluate(clock, T0 + 6 * H, tick.recorded).signals == ()


def test_due_at_schedules_each_threshold():
    clock = resolution(target=timedelta(microseconds=7))
    for point in (*DEFAULT_THRESHOLDS.warnings, DEFAULT_THRESHOLDS.breach):
        when = due_at(clock, point)
        assert fraction(clock, when) >= point > fraction(clock, when - US)


def test_crossings_boundaries():
    assert crossings(0.0, 0.75) == [SlaSignal(SignalKind.WARNING, 0.75)]
    assert crossings(0.75, 0.75) == []
    assert crossings(0.9, 1.0) == [SlaSignal(SignalKind.BREACH, 1.0)]
    assert crossings(1.0, 3.0) == []
    assert crossings(0.95, 0.5) == []  # fraction fell (target grew): nothing new


def test_custom_thresholds():
    thresholds = Thresholds(warnings=(0.5,), breach=1.0)
    assert [s.threshold for s in crossings(0.0, 1.0, thresholds)] == [0.5, 1.0]
    assert crossings(0.0, 1.0, Thresholds(warnings=())) == [SlaSignal(SignalKind.BREACH, 1.0)]
    for bad in ({"warnings": (0.9, 0.75)}, {"warnings": (0.5, 1.0)}, {"warnings": (0.0,)}, {"breach": 0.0}):
        with pytest.raises(ValueError):
            Thresholds(**bad)


def test_breach_is_never_unrecorded_when_target_grows():
    # Breached as P1 (4h), then downgraded to P3 (24h): the recorded breach stands.
    downgraded = SlaClock.resolution(DEFAULT_POLICIES[3], T0)
    tick = evaluate(downgraded, T0 + 5 * H, previous=1.25)
    assert tick.signals == ()
    assert tick.recorded == 1.25
    assert tick.state is SlaState.BREACHED


def test_stopped_clock_reports_only_a_missed_target():
    met = SlaClock.resolution(DEFAULT_POLICIES[1], T0, resolved_at=T0 + 3.8 * H)
    tick = evaluate(met, T0 + 10 * H)
    assert tick.signals == () and tick.state is SlaState.ACHIEVED
    missed = SlaClock.resolution(DEFAULT_POLICIES[1], T0, resolved_at=T0 + 5 * H)
    assert [s.kind for s in evaluate(missed, T0 + 10 * H).signals] == [SignalKind.BREACH]


def test_state_progression():
    clock = resolution()
    assert [state(clock, T0 + h * H) for h in (0, 2, 3, 4)] == [
        SlaState.IN_PROGRESS,
        SlaState.IN_PROGRESS,
        SlaState.WARNING,
        SlaState.BREACHED,
    ]
    paused = resolution(pauses=[(T0 + 5 * H, None)])
    assert state(paused, T0 + 6 * H) is SlaState.BREACHED  # a breach outranks a hold


offsets = st.lists(st.timedeltas(timedelta(0), timedelta(hours=10)), min_size=1, max_size=12)


@given(offsets)
def test_arbitrary_evaluation_times_emit_each_signal_once_in_order(steps):
    clock = SlaClock.resolution(DEFAULT_POLICIES[1], T0)
    now, recorded, emitted = T0, 0.0, []
    for step in steps:
        now += step
        tick = evaluate(clock, now, recorded)
        emitted.extend(tick.signals)
        recorded = tick.recorded
    assert emitted == crossings(0.0, fraction(clock, now), clock=ClockKind.RESOLUTION)
    assert len({s.threshold for s in emitted}) == len(emitted)


pauses = st.lists(
    st.tuples(st.timedeltas(timedelta(0), timedelta(hours=30)), st.timedeltas(timedelta(0), timedelta(hours=5))),
    max_size=4,
)


@given(calendars, st.timedeltas(timedelta(seconds=1), timedelta(hours=30)), pauses)
def test_clock_reaches_exactly_one_at_due(calendar, target, holds):
    clock = resolution(target, [(T0 + s, T0 + s + d) for s, d in holds], calendar=calendar)
    due = due_at(clock)
    assert fraction(clock, due) == 1.0
    assert fraction(clock, due - US) < 1.0


def test_reopen_resumes_resolution_clock_without_counting_the_resolved_time():
    resolved = SlaClock.resolution(DEFAULT_POLICIES[1], T0, resolved_at=T0 + H)
    reopened = SlaClock.resolution(DEFAULT_POLICIES[1], T0, holds=[(T0 + H, T0 + 5 * H)])
    assert elapsed(resolved, T0 + 6 * H) == H
    assert elapsed(reopened, T0 + 6 * H) == 2 * H
    assert due_at(reopened) == T0 + 8 * H
