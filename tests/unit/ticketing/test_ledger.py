from datetime import UTC, datetime, timedelta

from services.ticketing import ledger
from services.ticketing.clocks import SlaRules
from services.ticketing.incident import Change, Event, Incident

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
P2 = (("priority", "2"),)


def incident(**fields):
    return Incident("id", "INC1", "g", "t", fields.pop("status", "new"), 2, T0, T0, **fields)


def test_opening_and_resolving_count_and_observe_durations_and_alerts():
    opened = Change(None, incident(alert_count=1), (Event("opened"),))
    resolved_i = incident(status="resolved", resolved_at=T0 + timedelta(seconds=400), alert_count=3)
    resolved = Change(opened.incident, resolved_i, (Event("resolved"),))
    out = ledger.increments([opened, resolved], SlaRules())
    assert out[ledger.OPENED, P2] == 1 and out[ledger.RESOLVED, P2] == 1
    assert out["triage_incident_resolve_seconds_sum", P2] == 400
    assert out["triage_incident_resolve_seconds_bucket", (*P2, ("le", "300.0"))] == 0
    assert out["triage_incident_resolve_seconds_bucket", (*P2, ("le", "900.0"))] == 1
    assert out["triage_incident_resolve_seconds_bucket", (*P2, ("le", "+Inf"))] == 1
    assert out["triage_incident_alerts_count", P2] == 1 and out["triage_incident_alerts_sum", P2] == 3


def test_the_first_acknowledgement_is_observed_once():
    before = incident()
    acked = incident(acknowledged_at=T0 + timedelta(seconds=90))
    first = Change(before, acked, (Event("acknowledged"),))
    second = Change(acked, acked, (Event("assigned"),))
    out = ledger.increments([first, second], SlaRules())
    assert out["triage_incident_acknowledge_seconds_count", P2] == 1
    assert out["triage_incident_acknowledge_seconds_sum", P2] == 90


def test_sla_signals_count_per_clock_and_closing_counts_compliance():
    i = incident(status="closed", responded_at=T0 + timedelta(minutes=1), resolved_at=T0 + timedelta(hours=9))
    change = Change(
        i, i, (Event("sla_breach", "resolution", 1.0), Event("sla_warning", "response", 0.75), Event("closed"))
    )
    out = ledger.increments([change], SlaRules())
    assert out[ledger.BREACHES, (*P2, ("clock", "resolution"))] == 1
    assert out[ledger.WARNINGS, (*P2, ("clock", "response"))] == 1
    assert out[ledger.CLOCKS_FINISHED, (*P2, ("clock", "response"), ("met", "true"))] == 1
    assert out[ledger.CLOCKS_FINISHED, (*P2, ("clock", "resolution"), ("met", "false"))] == 1  # P2: 8 h
