from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from services.ticketing import sla
from services.ticketing.clocks import SlaRules, met, next_check, tick, views
from services.ticketing.escalation import EscalationPolicy
from services.ticketing.incident import Change, Incident, versioned

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # a Wednesday
RULES = SlaRules(
    policies={1: sla.SlaPolicy(1, timedelta(minutes=10), timedelta(minutes=100))},
    escalation=EscalationPolicy("service-desk", {"dba": "dba-leads"}),
)


def incident(**fields) -> Incident:
    base = Incident("id-1", "INC0000001", "g", "Disk full", "new", 1, T0, T0, assignment_group="dba", version=1)
    return replace(base, **fields)


def check(i: Incident, now: datetime) -> Change:
    return versioned(tick(Change(i, i, ()), now, RULES))


def summary(change: Change) -> list[tuple]:
    return [(e.type, e.sla_clock, e.sla_threshold, e.escalation_group, e.escalation_level) for e in change.events]


def test_nothing_before_the_first_threshold_and_the_next_check_is_at_it():
    change = check(incident(), T0 + timedelta(minutes=7))
    assert change.events == () and change.incident.version == 1
    assert change.incident.sla_check_at == T0 + timedelta(minutes=7, seconds=30)  # 75% of the response target


def test_warnings_breach_and_escalations_in_the_order_they_happened():
    change = check(incident(), T0 + timedelta(minutes=80))
    assert summary(change) == [
        ("sla_warning", "response", 0.75, "", 0),
        ("escalated", "response", 0.75, "dba", 1),
        ("sla_warning", "response", 0.9, "", 0),
        ("escalated", "response", 0.9, "dba", 1),
        ("sla_breach", "response", 1.0, "", 0),
        ("escalated", "response", 1.0, "dba-leads", 2),
        ("sla_warning", "resolution", 0.75, "", 0),
        ("escalated", "resolution", 0.75, "dba", 1),
    ]
    i = change.incident
    assert i.version == 1 + 8 and i.response_reached == 8.0
    assert i.sla_check_at == T0 + timedelta(minutes=90)  # the resolution clock's 90% warning


def test_each_signal_fires_once_and_a_breach_is_never_unrecorded():
    first = check(incident(), T0 + timedelta(minutes=10))
    assert [e.type for e in first.events].count("sla_breach") == 1
    again = check(first.incident, T0 + timedelta(minutes=10, seconds=1))
    assert again.events == ()
    slower = replace(first.incident, priority=5)  # a bigger target now: the breach stays recorded
    assert views(slower, T0 + timedelta(minutes=11), RULES)["response"].breached


def test_the_breach_is_exactly_at_the_target():
    assert [e.type for e in check(incident(), T0 + timedelta(minutes=10)).events][-2:] == ["sla_breach", "escalated"]
    before = check(incident(), T0 + timedelta(minutes=10) - timedelta(microseconds=1))
    assert "sla_breach" not in [e.type for e in before.events]


def test_on_hold_pauses_the_resolution_clock_only():
    acked = incident(
        status="on_hold", responded_at=T0 + timedelta(minutes=1), pauses=((T0 + timedelta(minutes=5), None),)
    )
    change = check(acked, T0 + timedelta(hours=10))
    assert change.events == () and change.incident.sla_check_at is None  # deadline unknown while held
    resumed = replace(acked, status="in_progress", pauses=((T0 + timedelta(minutes=5), T0 + timedelta(hours=10)),))
    assert views(resumed, T0 + timedelta(hours=10), RULES)["resolution"].due_at == T0 + timedelta(hours=10, minutes=95)


def test_a_stopped_clock_reports_only_a_breach_it_missed():
    late = incident(responded_at=T0 + timedelta(minutes=20), acknowledged_at=T0 + timedelta(minutes=20))
    assert summary(check(late, T0 + timedelta(minutes=20)))[:2] == [
        ("sla_breach", "response", 1.0, "", 0),
        ("escalated", "response", 1.0, "dba-leads", 2),
    ]
    in_time = incident(responded_at=T0 + timedelta(minutes=2))
    assert [e.sla_clock for e in check(in_time, T0 + timedelta(minutes=80)).events] == ["resolution"] * 2


def test_views_and_met_per_clock():
    i = incident(responded_at=T0 + timedelta(minutes=5), resolved_at=T0 + timedelta(minutes=150), status="resolved")
    v = views(i, T0 + timedelta(hours=5), RULES)
    assert (v["response"].state, v["response"].breached) == ("achieved", False)
    assert (v["resolution"].state, v["resolution"].breached) == ("breached", True)
    assert v["resolution"].due_at == T0 + timedelta(minutes=100) and v["response"].target_seconds == 600
    assert met(i, RULES) == {"response": True, "resolution": False}


def test_business_hours_move_the_deadline_past_the_night():
    office = sla.BusinessCalendar("UTC", {d: (time(8), time(18)) for d in range(5)})
    rules = SlaRules(policies={1: sla.SlaPolicy(1, timedelta(hours=1), timedelta(hours=4), office)})
    evening = incident(opened_at=datetime(2026, 11, 25, 17, 30, tzinfo=UTC))
    assert views(evening, evening.opened_at, rules)["response"].due_at == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert next_check(evening, rules) == datetime(2026, 11, 26, 8, 15, tzinfo=UTC)
