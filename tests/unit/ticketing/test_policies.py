from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.ticketing import policies, sla


def test_sla_targets_per_priority_with_units_and_a_named_calendar():
    named = policies.calendars(
        '{"office": {"timezone": "Europe/Berlin", "hours": {"mon-fri": "08:00-18:00", "sat": "10:00-24:00"},'
        ' "holidays": ["2026-12-25"]}}'
    )
    office = named["office"]
    assert office.hours[0] == (time(8), time(18)) and office.hours[5] == (time(10), time(0)) and 6 not in office.hours
    assert office.holidays == frozenset({date(2026, 12, 25)})
    targets = policies.sla_policies("1=30s/2h, 3=4h/3d@office", named)
    assert (targets[1].response, targets[1].resolution) == (timedelta(seconds=30), timedelta(hours=2))
    assert targets[3].calendar is office and targets[3].resolution == timedelta(days=3)
    assert targets[2] == sla.DEFAULT_POLICIES[2]  # unnamed priorities keep the ITIL defaults


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1=15m", "not like 1=15m/4h"),
        ("1=15x/4h", "not a duration"),
        ("1=15m/4h@nowhere", "unknown calendar"),
        ("9=15m/4h", "outside 1..5"),
    ],
)
def test_bad_sla_targets_say_what_is_wrong(text, says):
    with pytest.raises(policies.PolicyInvalid, match=says):
        policies.sla_policies(text, {})


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[", "not JSON"),
        ('{"x": {"hours": {"funday": "08:00-18:00"}}}', "not a day"),
        ('{"x": {"hours": {"fri-mon": "08:00-18:00"}}}', "backwards"),
        ('{"x": {"hours": {"mon": "8am"}}}', "not like 08:00-18:00"),
        ('{"x": {"timezone": "Mars/Base", "hours": {"mon": "08:00-18:00"}}}', "unknown timezone"),
    ],
)
def test_bad_calendars_say_what_is_wrong(text, says):
    with pytest.raises(policies.PolicyInvalid, match=says):
        policies.calendars(text)


def test_thresholds_escalation_and_auto_resolve():
    assert policies.thresholds("0.5, 0.8").warnings == (0.5, 0.8)
    with pytest.raises(policies.PolicyInvalid):
        policies.thresholds("0.9,0.5")
    esc = policies.escalation('{"default_group": "desk", "escalation_groups": {"dba": "dba-leads"}}')
    assert esc.escalation_group("dba") == "dba-leads" and esc.escalation_group("web") == "desk"
    with pytest.raises(policies.PolicyInvalid):
        policies.escalation('{"escalation_groups": {}}')
    assert policies.priorities("1, 2") == frozenset({1, 2})
    with pytest.raises(policies.PolicyInvalid):
        policies.priorities("0,6")


def test_a_calendar_counts_only_its_hours():
    office = policies.calendars('{"o": {"timezone": "UTC", "hours": {"mon-fri": "08:00-18:00"}}}')["o"]
    friday_evening = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert office.add(friday_evening, timedelta(hours=2)) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
