"""What a person (or another tool, through the API) does to an incident. Pure: actor and time are passed in;
the lifecycle state machine says which action is legal from which status (IllegalTransition otherwise)."""

from dataclasses import dataclass, replace
from datetime import datetime

from .incident import Change, Event, Incident
from .lifecycle import Action, IncidentStatus, transition

# The event each action is told as.
EVENT_OF = {
    Action.ACKNOWLEDGE: "acknowledged",
    Action.ASSIGN: "assigned",
    Action.HOLD: "on_hold",
    Action.RESUME: "resumed",
    Action.RESOLVE: "resolved",
    Action.CLOSE: "closed",
    Action.CANCEL: "cancelled",
    Action.COMMENT: "commented",
}


@dataclass(frozen=True, slots=True)
class Request:
    """An action and what came with it."""

    action: Action
    actor: str
    at: datetime
    note: str = ""  # comment text, hold or cancel reason, resolution notes
    assignee: str | None = None
    assignment_group: str | None = None
    resolution_code: str = ""


def act(incident: Incident, request: Request) -> Change:
    status = transition(IncidentStatus(incident.status), request.action)
    at = max(request.at, incident.updated_at)
    after = replace(incident, status=status.value, updated_at=at)
    after = _EFFECTS.get(request.action, _no_effect)(after, request, at)
    return Change(incident, after, (Event(EVENT_OF[request.action]),), actor=request.actor, note=request.note)


def _taken_on(i: Incident, at: datetime) -> Incident:
    return replace(i, acknowledged_at=i.acknowledged_at or at, responded_at=i.responded_at or at)


def _acknowledge(i: Incident, r: Request, at: datetime) -> Incident:
    return _taken_on(i, at)


def _assign(i: Incident, r: Request, at: datetime) -> Incident:
    i = replace(
        i,
        assignee=r.assignee if r.assignee is not None else i.assignee,
        assignment_group=r.assignment_group if r.assignment_group is not None else i.assignment_group,
    )
    return _taken_on(i, at)


def _hold(i: Incident, r: Request, at: datetime) -> Incident:
    return replace(i, pauses=(*i.pauses, (at, None)))


def _resume(i: Incident, r: Request, at: datetime) -> Incident:
    return _end_hold(i, at)


def _resolve(i: Incident, r: Request, at: datetime) -> Incident:
    i = _end_hold(i, at)
    return replace(
        i,
        resolved_at=at,
        responded_at=i.responded_at or at,
        resolution_code=r.resolution_code,
        resolution_notes=r.note,
    )


def _close(i: Incident, r: Request, at: datetime) -> Incident:
    return replace(i, closed_at=at)


def _cancel(i: Incident, r: Request, at: datetime) -> Incident:
    return replace(_end_hold(i, at), closed_at=at, responded_at=i.responded_at or at)


def _no_effect(i: Incident, r: Request, at: datetime) -> Incident:
    return i


def _end_hold(i: Incident, at: datetime) -> Incident:
    return replace(i, pauses=tuple((s, at if e is None else e) for s, e in i.pauses))


_EFFECTS = {
    Action.ACKNOWLEDGE: _acknowledge,
    Action.ASSIGN: _assign,
    Action.HOLD: _hold,
    Action.RESUME: _resume,
    Action.RESOLVE: _resolve,
    Action.CLOSE: _close,
    Action.CANCEL: _cancel,
}
