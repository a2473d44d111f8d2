"""ITIL incident state machine: which action may move an incident from which status to which."""

from enum import StrEnum


class IncidentStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    HOLD = "hold"
    RESUME = "resume"
    RESOLVE = "resolve"
    AUTO_RESOLVE = "auto_resolve"  # the pipeline resolving because every alert cleared
    REOPEN = "reopen"  # an alert re-fired within the reopen window
    CLOSE = "close"
    CANCEL = "cancel"
    COMMENT = "comment"


_NEW, _WORKING, _HOLD = IncidentStatus.NEW, IncidentStatus.IN_PROGRESS, IncidentStatus.ON_HOLD
_RESOLVED = IncidentStatus.RESOLVED

OPEN_STATES = frozenset({_NEW, _WORKING, _HOLD})
TERMINAL_STATES = frozenset({IncidentStatus.CLOSED, IncidentStatus.CANCELLED})

# (status, action) -> next status; any pair missing here is illegal.
_MOVES: dict[tuple[IncidentStatus, Action], IncidentStatus] = {
    (_NEW, Action.ACKNOWLEDGE): _WORKING,
    # Assigning a new incident means someone has picked it up.
    (_NEW, Action.ASSIGN): _WORKING,
    (_WORKING, Action.ASSIGN): _WORKING,
    (_HOLD, Action.ASSIGN): _HOLD,
    (_WORKING, Action.HOLD): _HOLD,
    (_HOLD, Action.RESUME): _WORKING,
    **{(s, Action.RESOLVE): _RESOLVED for s in OPEN_STATES},
    **{(s, Action.AUTO_RESOLVE): _RESOLVED for s in OPEN_STATES},
    (_RESOLVED, Action.REOPEN): _WORKING,
    (_RESOLVED, Action.CLOSE): IncidentStatus.CLOSED,
    **{(s, Action.CANCEL): IncidentStatus.CANCELLED for s in OPEN_STATES},
    **{(s, Action.COMMENT): s for s in OPEN_STATES | {_RESOLVED}},
}


class IllegalTransition(Exception):
    """An action that the incident's current status does not allow."""

    def __init__(self, status: IncidentStatus, action: Action, reason: str) -> None:
        super().__init__(status, action, reason)  # all three in args so the error pickles
        self.status = status
        self.action = action
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def transition(status: IncidentStatus, action: Action) -> IncidentStatus:
    """The status after `action`, or IllegalTransition if `status` does not allow it."""
    status, action = IncidentStatus(status), Action(action)
    try:
        return _MOVES[status, action]
    except KeyError:
        raise IllegalTransition(status, action, _reason(status, action)) from None


def allowed_actions(status: IncidentStatus) -> frozenset[Action]:
    """Every action legal from `status` (empty for the terminal states)."""
    return frozenset(action for (source, action) in _MOVES if source == IncidentStatus(status))


def is_open(status: IncidentStatus) -> bool:
    """New, in progress or on hold: someone still owes work on it."""
    return IncidentStatus(status) in OPEN_STATES


def is_terminal(status: IncidentStatus) -> bool:
    return IncidentStatus(status) in TERMINAL_STATES


def _reason(status: IncidentStatus, action: Action) -> str:
    verb = action.value.replace("_", "-")
    return f"cannot {verb} an incident that is {status.value.replace('_', ' ')}"
