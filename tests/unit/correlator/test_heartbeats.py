from datetime import UTC, datetime, timedelta

from services.correlator.heartbeats import back, beat_of, missed, overdue, record_beat

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
LABELS = {"heartbeat": "backup", "interval_seconds": "300", "ci": "backup-01"}


def test_only_well_formed_heartbeat_alerts_are_beats():
    beat = beat_of("heartbeat", LABELS, "", T0)
    assert beat.name == "backup" and beat.interval == timedelta(minutes=5) and beat.fingerprint == "heartbeat:backup"
    assert beat_of("alertmanager", LABELS, "", T0) is None
    assert beat_of("heartbeat", {**LABELS, "interval_seconds": "x"}, "", T0) is None
    assert beat_of("heartbeat", {"interval_seconds": "300"}, "", T0) is None


def test_a_beat_not_seen_within_its_interval_is_overdue_once():
    hb = beat_of("heartbeat", LABELS, "", T0)
    assert not overdue(hb, T0 + timedelta(seconds=299))
    assert overdue(hb, T0 + timedelta(seconds=300))
    raised, obs = missed(hb)
    assert raised.missed and not overdue(raised, T0 + timedelta(hours=1))
    assert obs.firing and obs.at == T0 + timedelta(minutes=5) and obs.labels["ci"] == "backup-01"
    assert obs.event_id == missed(hb)[1].event_id  # deterministic


def test_the_next_beat_resolves_the_missed_heartbeat():
    raised, _ = missed(beat_of("heartbeat", LABELS, "", T0))
    later = T0 + timedelta(minutes=7)
    current, came_back = record_beat(raised, beat_of("heartbeat", LABELS, "", later))
    assert came_back and not current.missed and current.last_beat_at == later
    resolve = back(current, "beat-7")
    assert not resolve.firing and resolve.at == later


def test_a_late_delivered_older_beat_does_not_move_the_clock_back():
    current, _ = record_beat(beat_of("heartbeat", LABELS, "", T0), beat_of("heartbeat", LABELS, "", T0 - timedelta(1)))
    assert current.last_beat_at == T0
    assert record_beat(None, current) == (current, False)


def test_the_synthetic_alert_binds_by_ci_id_or_name():
    _, obs = missed(beat_of("heartbeat", LABELS, "", T0))
    assert obs.labels["ci"] == "backup-01" and obs.labels["ci_name"] == "backup-01"
