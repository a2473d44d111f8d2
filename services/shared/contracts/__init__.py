"""Wire contracts generated from proto/ by `make proto` (never edited by hand)."""

try:
    from .triage.v1.alert_pb2 import Alert
    from .triage.v1.common_pb2 import AlertStatus, Severity
    from .triage.v1.correlated_alert_pb2 import CorrelatedAlert
    from .triage.v1.incident_event_pb2 import IncidentEvent
except ImportError as exc:  # pragma: no cover - only on a checkout that skipped the build
    raise ImportError("contracts are not generated: run `make proto`") from exc

# Looked up once: each attribute of a protobuf enum wrapper is a Python-level __getattr__, on the hot paths.
FIRING, RESOLVED = AlertStatus.ALERT_STATUS_FIRING, AlertStatus.ALERT_STATUS_RESOLVED

__all__ = ["FIRING", "RESOLVED", "Alert", "AlertStatus", "CorrelatedAlert", "IncidentEvent", "Severity"]
