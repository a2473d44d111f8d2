from prometheus_client import Counter, Gauge

ALERTS = Counter("triage_correlator_alerts_total", "Alerts consumed from alerts.normalized")
EMITTED = Counter("triage_correlator_emitted_total", "CorrelatedAlerts emitted to alerts.correlated")
DEAD_LETTERS = Counter("triage_correlator_dead_letters_total", "Undecodable messages sent to the dead-letter topic")
SUPPRESSED = Counter("triage_correlator_suppressed_total", "Alert states recorded as suppressed by a window")
DURING_CHANGE = Counter("triage_correlator_during_change_total", "Emissions marked as during a change or window")
HELD_TOLD = Counter(
    "triage_correlator_held_repeats_told_total",
    "Repeats held back (CORRELATOR_REPEAT_INTERVAL_SECONDS) and told by the sweep when their interval ended",
)
EXPIRED = Counter("triage_correlator_expired_total", "Firing alerts resolved because they stopped arriving")
HEARTBEATS = Counter("triage_correlator_heartbeats_total", "Heartbeat beats consumed")
HEARTBEATS_MISSED = Counter("triage_correlator_heartbeats_missed_total", "Heartbeats raised as missed")
SNAPSHOT_VERSION = Gauge("triage_correlator_reference_version", "cmdb_version of the in-memory reference snapshot")
SNAPSHOT_CIS = Gauge("triage_correlator_cmdb_cis", "CIs in the in-memory CMDB snapshot")
