from prometheus_client import Counter

ALERTS = Counter("triage_correlator_alerts_total", "Alerts consumed from alerts.normalized")
EMITTED = Counter("triage_correlator_emitted_total", "CorrelatedAlerts emitted to alerts.correlated")
DEAD_LETTERS = Counter("triage_correlator_dead_letters_total", "Undecodable messages sent to the dead-letter topic")
