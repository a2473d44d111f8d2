from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.correlator.flapping import DEFAULT_FLAP_POLICY, FlapPolicy, FlapState, observe
from services.correlator.store import _flap_json, flap_of

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def toggle(state: FlapState, times: list[datetime], policy: FlapPolicy = DEFAULT_FLAP_POLICY) -> list[bool]:
    """Alternate firing/resolved at each time; the first call only sets the initial status."""
    results = []
    for at in times:
        status = "resolved" if state.status == "firing" else "firing"
        state, flapping = observe(state, status, at, policy)
        results.append(flapping)
    return results


def test_first_observation_is_not_a_change():
    state, flapping = observe(FlapState(), "firing", T0)
    assert (state.status, state.changes, flapping) == ("firing", (), False)


def test_four_changes_in_ten_minutes_is_not_flapping_the_fifth_is():
    flags = toggle(FlapState(), [T0 + i * MIN for i in range(6)])  # initial status then 5 changes
    assert flags == [False, False, False, False, False, True]


def test_a_change_exactly_one_window_old_still_counts():
    times = [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN, T0 + MIN + 10 * MIN]
    # changes at 1,2,3,4 and 11 minutes: the one at 1 is exactly 10 minutes before 11
    assert toggle(FlapState(), times)[-1] is True
    times[-1] += timedelta(seconds=1)
    assert toggle(FlapState(), times)[-1] is False


def test_spread_out_changes_never_flap():
    assert not any(toggle(FlapState(), [T0 + i * 3 * MIN for i in range(20)]))


def test_repeated_status_is_not_a_change():
    state = FlapState()
    for i in range(10):
        state, flapping = observe(state, "firing", T0 + i * timedelta(seconds=10))
        assert not flapping
    assert state.changes == ()


def flapping_state() -> tuple[FlapState, datetime]:
    state, last = FlapState(), T0
    for i in range(6):
        last = T0 + i * MIN
        state, _ = observe(state, "firing" if i % 2 == 0 else "resolved", last)
    assert state.flapping and state.status == "resolved"
    return state, last


def test_stops_flapping_after_ten_quiet_minutes():
    state, last = flapping_state()
    assert observe(state, "resolved", last + 10 * MIN - timedelta(seconds=1))[1] is True
    after, flapping = observe(state, "resolved", last + 10 * MIN)
    assert flapping is False and after.changes == ()


def test_a_change_ends_the_quiet_period_before_it_elapses():
    state, last = flapping_state()
    state, flapping = observe(state, "firing", last + 9 * MIN)
    assert flapping is True
    assert observe(state, "firing", last + 18 * MIN)[1] is True
    assert observe(state, "firing", last + 19 * MIN)[1] is False


def test_a_change_right_at_the_end_of_the_quiet_period_starts_afresh():
    state, last = flapping_state()
    state, flapping = observe(state, "firing", last + 10 * MIN)
    assert flapping is False and len(state.changes) == 1


def test_custom_policy():
    policy = FlapPolicy(max_changes=1, window=timedelta(seconds=30), quiet=timedelta(seconds=5))
    assert toggle(FlapState(), [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)], policy)[-1]


def test_late_event_does_not_unsort_history():
    state, _ = observe(FlapState(), "firing", T0)
    state, _ = observe(state, "resolved", T0 + MIN)
    state, _ = observe(state, "firing", T0)
    assert state.changes == (T0 + MIN, T0 + MIN)


@given(st.lists(st.tuples(st.integers(0, 120), st.sampled_from(["firing", "resolved"])), max_size=200))
def test_memory_is_bounded(events):
    state, policy = FlapState(), FlapPolicy()
    for seconds, status in events:
        state, _ = observe(state, status, T0 + timedelta(seconds=seconds * 7), policy)
        assert len(state.changes) <= policy.max_changes + 1
        assert list(state.changes) == sorted(state.changes)


def test_a_flap_state_reads_back_from_its_stored_form_as_it_was():
    at = datetime(2026, 11, 25, 6, 0, 0, 5, tzinfo=UTC)
    flapping = FlapState(status="firing", changes=(at, at + timedelta(minutes=1)), last_change_at=at, flapping=True)
    for state in (FlapState(), flapping):
        assert flap_of(_flap_json(state)) == state
        assert flap_of(_flap_json(state)) is flap_of(_flap_json(state))  # read once, shared: it is immutable
    assert flap_of("{}") == FlapState()
