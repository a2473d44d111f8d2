from prometheus_client import Counter, Histogram

ALERTS = Counter("triage_ingest_alerts_total", "Alerts received, by source and outcome", ["source", "outcome"])
REQUEST_SECONDS = Histogram(
    "triage_ingest_request_seconds",
    "Ingest HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PRODUCE_SECONDS = Histogram(
    "triage_ingest_produce_seconds",
    "Time until the broker acknowledged a batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEAD_LETTERS = Counter("triage_ingest_dead_letters_total", "Messages sent to the dead-letter topic", ["reason"])
