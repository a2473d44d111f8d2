"""Every source's words for severity, mapped onto one scale: critical, major, minor, warning, info."""

from collections.abc import Mapping

from services.shared.contracts import Severity

CRITICAL, MAJOR, MINOR = Severity.SEVERITY_CRITICAL, Severity.SEVERITY_MAJOR, Severity.SEVERITY_MINOR
WARNING, INFO = Severity.SEVERITY_WARNING, Severity.SEVERITY_INFO

# The `severity` label as Prometheus rule authors write it (README "Severity mapping" shows this table).
LABEL_WORDS: Mapping[str, int] = {
    "critical": CRITICAL,
    "crit": CRITICAL,
    "page": CRITICAL,
    "emergency": CRITICAL,
    "fatal": CRITICAL,
    "disaster": CRITICAL,
    "p1": CRITICAL,
    "sev1": CRITICAL,
    "major": MAJOR,
    "error": MAJOR,
    "high": MAJOR,
    "p2": MAJOR,
    "sev2": MAJOR,
    "minor": MINOR,
    "medium": MINOR,
    "average": MINOR,
    "p3": MINOR,
    "sev3": MINOR,
    "warning": WARNING,
    "warn": WARNING,
    "low": WARNING,
    "p4": WARNING,
    "sev4": WARNING,
    "info": INFO,
    "informational": INFO,
    "notice": INFO,
    "none": INFO,
    "ok": INFO,
    "p5": INFO,
    "sev5": INFO,
}
# A rule without a severity label is taken as a warning: worth a ticket, not a page.
LABEL_DEFAULT = WARNING

NAMES: Mapping[int, str] = {
    CRITICAL: "critical",
    MAJOR: "major",
    MINOR: "minor",
    WARNING: "warning",
    INFO: "info",
}


def from_label(value: str | None) -> int:
    if value is None:
        return LABEL_DEFAULT
    return LABEL_WORDS.get(value.strip().lower(), LABEL_DEFAULT)
