import pytest

from services.ingest import severity


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("critical", "critical"),
        ("page", "critical"),
        ("P1", "critical"),
        ("error", "major"),
        ("high", "major"),
        ("minor", "minor"),
        ("warning", "warning"),
        ("Warn", "warning"),
        ("info", "info"),
        ("none", "info"),
        ("something-else", "warning"),
        (None, "warning"),
    ],
)
def test_label_words(word, expected):
    assert severity.NAMES[severity.from_label(word)] == expected
