from datetime import UTC, datetime, timedelta

import pytest

from services.ticketing.actions import Request, act
from services.ticketing.incident import AlertUpdate, IncidentPolicy, on_alert, versioned
from services.ticketing.lifecycle import Action, IllegalTransition

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=10)


def incident():
    u = AlertUpdate("a", "g", 1, True, 1, 1, "Disk full", "", T0)
    return versioned(on_alert(None, u, IncidentPolicy(), lambda: "id-1")).incident


def do(i, action, at=LATER, **details):
    return versioned(act(i, Request(action, "kim", at, **details)))


def test_acknowledge_takes_it_on_and_stops_the_response_clock():
    change = do(incident(), Action.ACKNOWLEDGE)
    i = change.incident
    assert [e.type for e in change.events] == ["acknowledged"] and change.actor == "kim"
    assert (i.status, i.acknowledged_at, i.responded_at, i.version) == ("in_progress", LATER, LATER, 2)


def test_assign_sets_the_assignee_and_group_and_counts_as_taking_it_on():
    i = do(incident(), Action.ASSIGN, assignee="kim", assignment_group="dba").incident
    assert (i.status, i.assignee, i.assignment_group, i.acknowledged_at) == ("in_progress", "kim", "dba", LATER)
    again = do(i, Action.ASSIGN, at=LATER + timedelta(minutes=1), assignee="lee").incident
    assert (again.assignee, again.assignment_group, again.acknowledged_at) == ("lee", "dba", LATER)


def test_hold_pauses_and_resume_ends_the_pause():
    working = do(incident(), Action.ACKNOWLEDGE).incident
    held = do(working, Action.HOLD, at=LATER + timedelta(minutes=5), note="waiting for the vendor")
    assert held.incident.status == "on_hold" and held.note == "waiting for the vendor"
    assert held.incident.pauses == ((LATER + timedelta(minutes=5), None),)
    resumed = do(held.incident, Action.RESUME, at=LATER + timedelta(minutes=20)).incident
    assert resumed.status == "in_progress"
    assert resumed.pauses == ((LATER + timedelta(minutes=5), LATER + timedelta(minutes=20)),)


def test_resolve_from_hold_ends_the_pause_and_records_code_and_notes():
    held = do(do(incident(), Action.ACKNOWLEDGE).incident, Action.HOLD, note="vendor").incident
    i = do(held, Action.RESOLVE, at=LATER + timedelta(hours=1), resolution_code="fixed", note="disk replaced").incident
    assert (i.status, i.resolution_code, i.resolution_notes) == ("resolved", "fixed", "disk replaced")
    assert i.pauses == ((LATER, LATER + timedelta(hours=1)),) and i.resolved_at == LATER + timedelta(hours=1)


def test_close_and_cancel_are_terminal():
    resolved = do(incident(), Action.RESOLVE, resolution_code="fixed").incident
    closed = do(resolved, Action.CLOSE, at=LATER + timedelta(days=1)).incident
    assert (closed.status, closed.closed_at) == ("closed", LATER + timedelta(days=1))
    cancelled = do(incident(), Action.CANCEL, note="opened in error").incident
    assert (cancelled.status, cancelled.closed_at, cancelled.responded_at) == ("cancelled", LATER, LATER)
    for done in (closed, cancelled):
        with pytest.raises(IllegalTransition):
            do(done, Action.COMMENT, note="too late")


def test_comment_keeps_the_status():
    change = do(incident(), Action.COMMENT, note="looking at it")
    assert change.incident.status == "new" and [e.type for e in change.events] == ["commented"]


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (Action.RESUME, "cannot resume an incident that is new"),
        (Action.HOLD, "cannot hold an incident that is new"),
        (Action.CLOSE, "cannot close an incident that is new"),
    ],
)
def test_illegal_moves_name_the_reason(action, reason):
    with pytest.raises(IllegalTransition, match=reason):
        do(incident(), action)


def test_a_person_acting_with_a_clock_behind_the_alert_time_never_moves_time_backwards():
    i = do(incident(), Action.ACKNOWLEDGE, at=T0 - timedelta(minutes=1)).incident
    assert i.updated_at == T0 and i.acknowledged_at == T0
