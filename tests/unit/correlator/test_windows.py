from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.correlator.cmdb import CI, Cmdb, Relationship
from services.correlator.windows import (
    Change,
    MaintenanceWindow,
    WindowIndex,
    WindowInvalid,
    WindowMatch,
    WindowPolicy,
)

T0 = datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=2)

# san <- host <- app <- shop (part_of); other is unrelated
CMDB = Cmdb.build(
    [CI("san", "san", "storage"), CI("host", "host", "host"), CI("app", "app", "application")]
    + [CI("shop", "shop", "business_service"), CI("other", "other", "host")],
    [
        Relationship("host", "depends_on", "san"),
        Relationship("app", "runs_on", "host"),
        Relationship("shop", "part_of", "app"),
    ],
)


def change(ci_ids=("host",), state="approved", policy="mark", cid="CHG1", start=T0, end=T1) -> Change:
    return Change(cid, tuple(ci_ids), start, end, state, policy)


def index(*changes: Change, windows=()) -> WindowIndex:
    return WindowIndex.build(changes, windows, CMDB)


def test_alert_inside_an_approved_change_on_the_ci():
    assert index(change()).active_for("host", T0 + timedelta(minutes=30)) == WindowMatch(
        "CHG1", None, WindowPolicy.MARK, "host", inherited=False
    )


def test_alert_outside_the_window_or_on_an_unrelated_ci():
    idx = index(change())
    assert idx.active_for("host", T0 - timedelta(seconds=1)) is None
    assert idx.active_for("host", T1 + timedelta(hours=1)) is None
    assert idx.active_for("other", T0) is None
    assert idx.active_for("ghost", T0) is None


def test_dependents_are_covered_transitively_but_not_what_the_ci_depends_on():
    idx = index(change())
    assert idx.active_for("app", T0) == WindowMatch("CHG1", None, WindowPolicy.MARK, "host", inherited=True)
    assert idx.active_for("shop", T0).change_id == "CHG1"
    assert idx.active_for("san", T0) is None


def test_start_is_inclusive_and_end_exclusive():
    idx = index(change())
    assert idx.active_for("host", T0) is not None
    assert idx.active_for("host", T1 - timedelta(microseconds=1)) is not None
    assert idx.active_for("host", T1) is None


def test_boundaries_hold_across_time_zones():
    cet = timezone(timedelta(hours=2))
    idx = index(change())
    assert idx.active_for("host", T0.astimezone(cet)) is not None
    assert idx.active_for("host", T1.astimezone(cet)) is None


@pytest.mark.parametrize("state", ["closed", "requested", "assess", "cancelled", "rejected"])
def test_closed_or_unapproved_changes_cover_nothing(state):
    assert index(change(state=state)).active_for("host", T0) is None


@pytest.mark.parametrize("state", ["approved", "in_progress", "In Progress", "IN-PROGRESS"])
def test_approved_and_in_progress_changes_cover(state):
    assert index(change(state=state)).active_for("host", T0) is not None


def test_maintenance_window_covers_ci_and_dependents():
    idx = index(windows=[MaintenanceWindow("MW1", ("san",), T0, T1, "suppress")])
    assert idx.active_for("app", T0) == WindowMatch(None, "MW1", WindowPolicy.SUPPRESS, "san", inherited=True)
    assert idx.active_for("san", T1) is None


def test_suppress_wins_over_mark():
    idx = index(change(cid="CHG1", policy="mark"), change(cid="CHG2", policy="suppress"))
    assert idx.active_for("host", T0).change_id == "CHG2"


def test_then_direct_beats_inherited_then_change_beats_window_then_lowest_id():
    idx = index(
        change(("host",), cid="CHG2"),
        change(("app",), cid="CHG9"),
        change(("host",), cid="CHG1"),
        windows=[MaintenanceWindow("MW0", ("app",), T0, T1, "mark")],
    )
    assert idx.active_for("app", T0).change_id == "CHG9"
    assert idx.active_for("host", T0).change_id == "CHG1"


def test_overlapping_windows_choose_among_the_active_ones():
    early = change(cid="CHG1", policy="suppress", start=T0 - timedelta(hours=5), end=T0 - timedelta(hours=4))
    idx = index(early, change(cid="CHG2"))
    assert idx.active_for("host", T0).change_id == "CHG2"
    assert idx.active_for("host", T0 - timedelta(hours=5)).change_id == "CHG1"


def test_change_on_a_ci_missing_from_the_cmdb_still_covers_that_id():
    assert index(change(("new-vm",))).active_for("new-vm", T0).change_id == "CHG1"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (change(start=T0.replace(tzinfo=None)), "planned_start"),
        (change(start=T1, end=T0), "planned_end"),
        (change(policy="ignore"), "policy"),
    ],
)
def test_invalid_changes_are_rejected(bad, field):
    with pytest.raises(WindowInvalid) as err:
        index(bad)
    assert (err.value.window_id, err.value.field) == ("CHG1", field)
