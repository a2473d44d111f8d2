import pytest

from services.ticketing.escalation import Escalation, EscalationPolicy, escalate
from services.ticketing.sla import ClockKind, SignalKind, SlaSignal

POLICY = EscalationPolicy("service-desk", {"network-ops": "network-leads", "db-ops": "dba-oncall"})
WARNING = SlaSignal(SignalKind.WARNING, 0.75, ClockKind.RESOLUTION)
BREACH = SlaSignal(SignalKind.BREACH, 1.0, ClockKind.RESOLUTION)


def test_warning_goes_to_the_assignment_group():
    assert escalate(WARNING, "network-ops", POLICY) == [
        Escalation(1, "network-ops", "resolution SLA warning: 75% of the target used")
    ]


def test_breach_goes_to_the_escalation_group():
    assert escalate(BREACH, "db-ops", POLICY) == [
        Escalation(2, "dba-oncall", "resolution SLA breached: 100% of the target used")
    ]


def test_breach_of_unmapped_group_falls_back_to_default():
    assert escalate(BREACH, "storage-ops", POLICY)[0].group == "service-desk"


@pytest.mark.parametrize("signal", [WARNING, BREACH])
def test_unassigned_incident_goes_to_default(signal):
    assert [e.group for e in escalate(signal, None, POLICY)] == ["service-desk"]


def test_reason_without_clock_and_with_custom_threshold():
    (escalation,) = escalate(SlaSignal(SignalKind.WARNING, 0.9), "db-ops", POLICY)
    assert escalation.reason == "SLA warning: 90% of the target used"


def test_response_clock_named_in_reason():
    (escalation,) = escalate(SlaSignal(SignalKind.BREACH, 1.0, ClockKind.RESPONSE), "db-ops", POLICY)
    assert escalation.reason.startswith("response SLA breached")


def test_policy_is_an_immutable_value():
    mapping = {"a": "b"}
    policy = EscalationPolicy("desk", mapping)
    mapping["a"] = "c"
    assert policy.escalation_group("a") == "b"
    assert policy == EscalationPolicy("desk", {"a": "b"}) and hash(policy) == hash(EscalationPolicy("desk", {"a": "b"}))
    with pytest.raises(TypeError):
        policy.escalation_groups["x"] = "y"


def test_policy_needs_a_default_group():
    with pytest.raises(ValueError):
        EscalationPolicy("  ")
