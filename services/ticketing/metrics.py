from collections.abc import Iterable

from prometheus_client import Counter

CHANGES = Counter("triage_ticketing_incident_changes_total", "Incident changes made by the pipeline", ["type"])
OPENED = Counter("triage_incidents_opened_total", "Incidents opened")
RESOLVED = Counter("triage_incidents_resolved_total", "Incidents resolved")
DEAD_LETTERS = Counter("triage_ticketing_dead_letters_total", "Undecodable messages sent to the dead-letter topic")
EVENTS_PUBLISHED = Counter("triage_ticketing_events_published_total", "Incident events published to incidents.events")


def count_changes(types: Iterable[str]) -> None:
    for t in types:
        CHANGES.labels(t).inc()
        if t == "opened":
            OPENED.inc()
        elif t == "resolved":
            RESOLVED.inc()
