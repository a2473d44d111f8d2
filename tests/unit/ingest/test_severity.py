"""The severity tables per format, exactly as documented (README "Severity mapping", docs/ingest-and-correlator.md)."""

import pytest

from services.ingest import severity
from services.ingest.formats import native, pagerduty

# Alertmanager, Grafana (and native `labels.severity` is not used: native has its own field): the `severity` label.
LABEL_TABLE = {
    "critical": ("critical", "crit", "page", "emergency", "fatal", "disaster", "p1", "sev1"),
    "major": ("major", "error", "high", "p2", "sev2"),
    "minor": ("minor", "medium", "average", "p3", "sev3"),
    "warning": ("warning", "warn", "low", "p4", "sev4"),
    "info": ("info", "informational", "notice", "none", "ok", "p5", "sev5"),
}


def test_the_label_table_is_exactly_the_documented_one():
    documented = {word: name for name, words in LABEL_TABLE.items() for word in words}
    assert {word: severity.NAMES[value] for word, value in severity.LABEL_WORDS.items()} == documented


@pytest.mark.parametrize("word", ["CRITICAL", " Warn ", "P1", "Sev3"])
def test_label_words_are_case_and_space_insensitive(word):
    assert severity.from_label(word) == severity.LABEL_WORDS[word.strip().lower()]


@pytest.mark.parametrize("word", [None, "", "something-else", "sev0"])
def test_a_missing_or_unknown_label_is_a_warning(word):
    assert severity.NAMES[severity.from_label(word)] == "warning"


def test_pagerduty_table():
    assert {k: severity.NAMES[v] for k, v in pagerduty.SEVERITIES.items()} == {
        "critical": "critical",
        "error": "major",
        "warning": "warning",
        "info": "info",
    }


def test_native_severity_is_the_scale_itself():
    assert {k: severity.NAMES[v] for k, v in native.SEVERITIES.items()} == {n: n for n in LABEL_TABLE}
