import pickle

import pytest

from services.ticketing.lifecycle import (
    OPEN_STATES,
    TERMINAL_STATES,
    Action,
    IllegalTransition,
    IncidentStatus,
    allowed_actions,
    is_open,
    is_terminal,
    transition,
)

S = IncidentStatus
A = Action

LEGAL = {
    (S.NEW, A.ACKNOWLEDGE): S.IN_PROGRESS,
    (S.NEW, A.ASSIGN): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.ASSIGN): S.IN_PROGRESS,
    (S.ON_HOLD, A.ASSIGN): S.ON_HOLD,
    (S.IN_PROGRESS, A.HOLD): S.ON_HOLD,
    (S.ON_HOLD, A.RESUME): S.IN_PROGRESS,
    (S.NEW, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.ON_HOLD, A.RESOLVE): S.RESOLVED,
    (S.NEW, A.AUTO_RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.AUTO_RESOLVE): S.RESOLVED,
    (S.ON_HOLD, A.AUTO_RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.REOPEN): S.IN_PROGRESS,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    (S.NEW, A.CANCEL): S.CANCELLED,
    (S.IN_PROGRESS, A.CANCEL): S.CANCELLED,
    (S.ON_HOLD, A.CANCEL): S.CANCELLED,
    (S.NEW, A.COMMENT): S.NEW,
    (S.IN_PROGRESS, A.COMMENT): S.IN_PROGRESS,
    (S.ON_HOLD, A.COMMENT): S.ON_HOLD,
    (S.RESOLVED, A.COMMENT): S.RESOLVED,
}
ILLEGAL = [(s, a) for s in S for a in A if (s, a) not in LEGAL]
VERB = {A.AUTO_RESOLVE: "auto-resolve"}
STATE_WORDS = {S.IN_PROGRESS: "in progress", S.ON_HOLD: "on hold"}


@pytest.mark.parametrize(("status", "action"), list(LEGAL))
def test_legal_move(status, action):
    assert transition(status, action) is LEGAL[status, action]


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_illegal_move_explains_itself(status, action):
    with pytest.raises(IllegalTransition) as caught:
        transition(status, action)
    verb = VERB.get(action, action.value)
    expected = f"cannot {verb} an incident that is {STATE_WORDS.get(status, status.value)}"
    assert caught.value.reason == expected
    assert str(caught.value) == expected
    assert (caught.value.status, caught.value.action) == (status, action)


def test_illegal_pair_count_covers_the_whole_grid():
    assert len(LEGAL) + len(ILLEGAL) == len(S) * len(A) == 60


def test_reason_text_example():
    with pytest.raises(IllegalTransition, match="^cannot hold an incident that is resolved$"):
        transition(S.RESOLVED, A.HOLD)


def test_terminal_states_allow_nothing():
    assert TERMINAL_STATES == {S.CLOSED, S.CANCELLED}
    for status in TERMINAL_STATES:
        assert allowed_actions(status) == frozenset()
        assert is_terminal(status)
        assert not is_open(status)


def test_open_states():
    assert OPEN_STATES == {S.NEW, S.IN_PROGRESS, S.ON_HOLD}
    assert [s for s in S if is_open(s)] == [S.NEW, S.IN_PROGRESS, S.ON_HOLD]
    assert not is_open(S.RESOLVED) and not is_terminal(S.RESOLVED)


def test_allowed_actions_match_the_table():
    for status in S:
        assert allowed_actions(status) == {a for (s, a) in LEGAL if s is status}


def test_accepts_stored_strings():
    assert transition("on_hold", "resume") is S.IN_PROGRESS
    assert str(S.IN_PROGRESS) == "in_progress"


def test_unknown_action_string_is_a_value_error():
    with pytest.raises(ValueError):
        transition("new", "escalate")


def test_illegal_transition_pickles():
    error = pickle.loads(
        pickle.dumps(IllegalTransition(S.CLOSED, A.REOPEN, "cannot reopen an incident that is closed"))
    )
    assert (error.status, error.action, str(error)) == (
        S.CLOSED,
        A.REOPEN,
        "cannot reopen an incident that is closed",
    )


def test_full_journey():
    status = S.NEW
    for action in (A.ASSIGN, A.HOLD, A.COMMENT, A.RESUME, A.AUTO_RESOLVE, A.REOPEN, A.RESOLVE, A.CLOSE):
        status = transition(status, action)
    assert status is S.CLOSED
