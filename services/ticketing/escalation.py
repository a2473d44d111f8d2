"""Functional escalation: which group hears about an SLA warning or breach."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from services.ticketing.sla import SignalKind, SlaSignal

WARNING_LEVEL = 1  # the assignment group is reminded it owes work
BREACH_LEVEL = 2  # the next line of support takes notice


@dataclass(frozen=True)
class EscalationPolicy:
    """Where a breach goes: each assignment group's escalation group, else `default_group`.

    default_group also receives warnings for incidents nobody is assigned to yet.
    """

    default_group: str
    escalation_groups: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.default_group.strip():
            raise ValueError("an escalation policy needs a default group")
        object.__setattr__(self, "escalation_groups", MappingProxyType(dict(self.escalation_groups)))

    def __hash__(self) -> int:
        return hash((self.default_group, tuple(sorted(self.escalation_groups.items()))))

    def escalation_group(self, assignment_group: str | None) -> str:
        if assignment_group is None:
            return self.default_group
        return self.escalation_groups.get(assignment_group, self.default_group)


@dataclass(frozen=True)
class Escalation:
    level: int
    group: str
    reason: str


def escalate(signal: SlaSignal, assignment_group: str | None, policy: EscalationPolicy) -> list[Escalation]:
    """Who to notify for one SLA signal; `assignment_group` is None while unassigned."""
    if signal.kind is SignalKind.WARNING:
        group = assignment_group or policy.default_group
        return [Escalation(WARNING_LEVEL, group, _reason(signal))]
    return [Escalation(BREACH_LEVEL, policy.escalation_group(assignment_group), _reason(signal))]


def _reason(signal: SlaSignal) -> str:
    sla = f"{signal.clock} SLA" if signal.clock else "SLA"
    if signal.kind is SignalKind.WARNING:
        return f"{sla} warning: {signal.threshold:.0%} of the target used"
    return f"{sla} breached: {signal.threshold:.0%} of the target used"
