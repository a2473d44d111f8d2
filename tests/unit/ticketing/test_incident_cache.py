"""The pipeline's held incidents: a copy is used only at the revision it was held at, and the set is bounded."""

from dataclasses import replace

from services.ticketing.incident_cache import IncidentCache

from .test_incident import step, update


def incident(ident="id-1"):
    return replace(step(None, update(), new_id=ident).incident, number="INC0000001")


def test_a_held_incident_is_given_back_only_at_its_revision():
    cache, i = IncidentCache(), incident()
    cache.put(i, 3)
    assert cache.get("id-1", 3) is i
    assert cache.get("id-2", 3) is None


def test_a_copy_found_stale_is_dropped():
    cache, i = IncidentCache(), incident()
    cache.put(i, 3)
    assert cache.get("id-1", 4) is None  # written elsewhere since: read it again
    assert cache.get("id-1", 3) is None and len(cache) == 0


def test_a_newer_write_replaces_the_held_copy():
    cache, i = IncidentCache(), incident()
    cache.put(i, 3)
    later = replace(i, alert_count=5)
    cache.put(later, 4)
    assert cache.get("id-1", 4) is later and len(cache) == 1


def test_the_least_recently_used_go_first_past_the_limit():
    cache = IncidentCache(limit=2)
    for n in (1, 2):
        cache.put(incident(f"id-{n}"), 1)
    assert cache.get("id-1", 1) is not None  # id-2 is now the least recently used
    cache.put(incident("id-3"), 1)
    assert len(cache) == 2 and cache.get("id-2", 1) is None
    assert cache.get("id-1", 1) is not None and cache.get("id-3", 1) is not None
