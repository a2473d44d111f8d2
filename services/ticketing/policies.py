"""Ticketing policy from configuration text: SLA targets per priority, business calendars, warning thresholds,
escalation groups, the priority matrix, reopen and auto-resolve rules. Pure; every error names what is wrong.

Formats (environment variables, see README):
- SLA targets: "1=15m/4h,2=30m/8h,3=4h/24h,4=8h/3d,5=1d/5d" — response/resolution per priority; units s, m, h, d;
  "@name" after a pair counts it in business calendar `name`: "3=4h/24h@office".
- Calendars: JSON {"office": {"timezone": "Europe/Berlin", "hours": {"mon-fri": "08:00-18:00"},
  "holidays": ["2026-12-25"]}}; day keys are mon..sun or ranges like mon-fri; "00:00-24:00" is the whole day.
- Thresholds: "0.75,0.9" — the warning shares; the breach is at 1.0.
- Escalation: JSON {"default_group": "service-desk", "escalation_groups": {"dba": "dba-leads"}}.
"""

import json
import re
from collections.abc import Mapping
from datetime import date, time, timedelta

from . import sla
from .escalation import EscalationPolicy

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


class PolicyInvalid(ValueError):
    pass


def duration(text: str, what: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise PolicyInvalid(f"{what}: {text!r} is not a duration like 30s, 15m, 4h or 3d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def calendars(text: str) -> dict[str, sla.BusinessCalendar]:
    try:
        spec = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise PolicyInvalid(f"calendars: not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise PolicyInvalid("calendars: expected a JSON object of name -> calendar")
    return {name: _calendar(name, body) for name, body in spec.items()}


def _calendar(name: str, body: object) -> sla.BusinessCalendar:
    if not isinstance(body, dict) or not isinstance(body.get("hours"), dict):
        raise PolicyInvalid(f"calendar {name!r}: expected {{'timezone', 'hours': {{'mon-fri': '08:00-18:00'}}}}")
    hours: dict[int, tuple[time, time]] = {}
    for days, window in body["hours"].items():
        for day in _day_range(name, days):
            hours[day] = _window(name, days, window)
    try:
        holidays = frozenset(date.fromisoformat(d) for d in body.get("holidays", []))
        return sla.BusinessCalendar(str(body.get("timezone", "UTC")), hours, holidays)
    except (ValueError, TypeError) as exc:
        raise PolicyInvalid(f"calendar {name!r}: {exc}") from None


def _day_range(name: str, days: str) -> range:
    first, _, last = days.strip().lower().partition("-")
    if first not in _DAYS or (last and last not in _DAYS):
        raise PolicyInvalid(f"calendar {name!r}: {days!r} is not a day or range of days like mon-fri")
    start, end = _DAYS.index(first), _DAYS.index(last or first)
    if end < start:
        raise PolicyInvalid(f"calendar {name!r}: day range {days!r} runs backwards")
    return range(start, end + 1)


def _window(name: str, days: str, window: object) -> tuple[time, time]:
    try:
        opens, closes = str(window).split("-")
        return time.fromisoformat(opens.strip()), time(0) if closes.strip() == "24:00" else time.fromisoformat(
            closes.strip()
        )
    except ValueError:
        raise PolicyInvalid(f"calendar {name!r}: hours {window!r} for {days} are not like 08:00-18:00") from None


def sla_policies(text: str, named: Mapping[str, sla.BusinessCalendar]) -> dict[int, sla.SlaPolicy]:
    policies = dict(sla.DEFAULT_POLICIES)
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key, _, value = entry.partition("=")
        targets, _, calendar_name = value.partition("@")
        response, _, resolution = targets.partition("/")
        if not key.strip().isdigit() or not resolution:
            raise PolicyInvalid(f"SLA targets: {entry!r} is not like 1=15m/4h")
        calendar = sla.TWENTY_FOUR_SEVEN
        if calendar_name:
            if calendar_name.strip() not in named:
                raise PolicyInvalid(f"SLA targets: {entry!r} names an unknown calendar {calendar_name!r}")
            calendar = named[calendar_name.strip()]
        try:
            policy = sla.SlaPolicy(
                int(key), duration(response, f"P{key} response"), duration(resolution, f"P{key} resolution"), calendar
            )
        except ValueError as exc:
            raise PolicyInvalid(f"SLA targets: {entry!r}: {exc}") from None
        policies[policy.priority] = policy
    return policies


def thresholds(text: str) -> sla.Thresholds:
    try:
        warnings = tuple(float(t) for t in text.split(",") if t.strip())
        return sla.Thresholds(warnings)
    except ValueError as exc:
        raise PolicyInvalid(f"SLA warning thresholds {text!r}: {exc}") from None


def escalation(text: str) -> EscalationPolicy:
    try:
        spec = json.loads(text)
        return EscalationPolicy(str(spec["default_group"]), dict(spec.get("escalation_groups", {})))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyInvalid(f"escalation policy {text!r}: expected {{'default_group': ...}}: {exc!r}") from None


def priorities(text: str) -> frozenset[int]:
    chosen = {p.strip() for p in text.split(",") if p.strip()}
    if not chosen <= {"1", "2", "3", "4", "5"}:
        raise PolicyInvalid(f"auto-resolve priorities {text!r}: expected a list of 1..5")
    return frozenset(int(p) for p in chosen)
