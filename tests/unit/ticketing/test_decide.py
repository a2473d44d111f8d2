"""Ticketing's decisions for a batch of correlated alerts: repeats are counted without events or SLA
evaluation, so what incidents.events carries does not depend on how many repeats arrived."""

from datetime import timedelta

from services.ticketing.clocks import SlaRules
from services.ticketing.events import Cause
from services.ticketing.incident import IncidentPolicy
from services.ticketing.pipeline import decide

from .test_incident import T0, update


def run(updates):
    latest, ids = {}, iter(f"id-{n}" for n in range(100))
    changes = decide([(u, Cause()) for u in updates], latest, IncidentPolicy(), SlaRules(), lambda: next(ids))
    return [(e.type, c.incident.alert_count, c.incident.version) for c, _ in changes for e in c.events], latest


def test_a_repeat_past_an_sla_threshold_is_counted_and_the_warning_told_at_the_next_event():
    opened = update(first_seen=T0)  # P2: response due in 30 min, warned at 75 %
    repeat = update(occurrences=2, sequence=2, first_seen=T0, at=T0 + timedelta(minutes=25))
    other = update(fp="b", sequence=1, at=T0 + timedelta(minutes=26))
    events, latest = run([opened, repeat, other])
    # the repeat: no event, no version (the incident stays at 1); the next change tells the count and the warning
    assert events == [("opened", 1, 1), ("updated", 3, 4), ("sla_warning", 3, 4), ("escalated", 3, 4)]
    assert latest["g1"].alert_count == 3 and latest["g1"].version == 4


def test_the_events_are_the_same_however_many_repeats_arrive():
    told = [update(first_seen=T0)]
    told += [update(occurrences=n, sequence=n, first_seen=T0, at=T0 + timedelta(minutes=n)) for n in range(2, 8)]
    fewer = [told[0], told[3], told[6]]
    resolve = update(firing=False, occurrences=7, sequence=8, first_seen=T0, at=T0 + timedelta(minutes=9))
    assert run([*told, resolve])[0] == run([*fewer, resolve])[0]
    assert [e[0] for e in run([*told, resolve])[0]] == ["opened", "resolved"]


def test_an_incident_id_is_made_only_for_an_incident_that_opens():
    asked = []

    def new_id():
        asked.append(f"id-{len(asked)}")
        return asked[-1]

    updates = [update(first_seen=T0)] + [update(occurrences=n, sequence=n, first_seen=T0) for n in range(2, 50)]
    updates.append(update(fp="b", group="g2", at=T0 + timedelta(minutes=1)))
    decide([(u, Cause()) for u in updates], {}, IncidentPolicy(), SlaRules(), new_id)
    assert asked == ["id-0", "id-1"]  # g1 opened once, g2 once: not one per update
