import pytest

from services.ticketing.priority import (
    DEFAULT_MATRIX,
    Impact,
    PriorityMatrix,
    Urgency,
    impact_from,
    priority,
    urgency_from_severity,
)

DEFAULT_TEXT = "1x1=1,1x2=2,1x3=3,2x1=2,2x2=3,2x3=4,3x1=3,3x2=4,3x3=5"
STANDARD = {(1, 1): 1, (1, 2): 2, (1, 3): 3, (2, 1): 2, (2, 2): 3, (2, 3): 4, (3, 1): 3, (3, 2): 4, (3, 3): 5}


@pytest.mark.parametrize(("cell", "expected"), STANDARD.items())
def test_default_matrix(cell, expected):
    assert priority(Impact(cell[0]), Urgency(cell[1])) == expected


def test_named_corners():
    assert priority(Impact.HIGH, Urgency.HIGH) == 1
    assert priority(Impact.LOW, Urgency.LOW) == 5


def test_parse_round_trips_default():
    assert PriorityMatrix.parse(DEFAULT_TEXT) == DEFAULT_MATRIX == PriorityMatrix(STANDARD)
    assert hash(PriorityMatrix.parse(DEFAULT_TEXT)) == hash(DEFAULT_MATRIX)


def test_parse_tolerates_whitespace_and_case():
    text = " 1X1 = 1 ,\n" + DEFAULT_TEXT.replace("1x1=1,", "") + ","
    assert PriorityMatrix.parse(text) == DEFAULT_MATRIX


def test_custom_matrix_is_used():
    matrix = PriorityMatrix.parse(DEFAULT_TEXT.replace("2x1=2", "2x1=1"))
    assert priority(Impact.MEDIUM, Urgency.HIGH, matrix) == 1
    assert priority(Impact.MEDIUM, Urgency.HIGH) == 2


def test_matrix_cannot_be_mutated():
    with pytest.raises(TypeError):
        DEFAULT_MATRIX.cells[Impact.HIGH, Urgency.HIGH] = 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEFAULT_TEXT.replace(",3x3=5", ""), r"missing cell\(s\) 3x3"),
        (DEFAULT_TEXT.replace("1x2=2,", "").replace(",2x3=4", ""), r"missing cell\(s\) 1x2, 2x3"),
        (DEFAULT_TEXT.replace("2x2=3", "2x2=7"), "cell 2x2 is 7; priority must be 1..5"),
        (DEFAULT_TEXT.replace("2x2=3", "2x2=0"), "cell 2x2 is 0"),
        (DEFAULT_TEXT + ",4x1=1", r"unknown cell\(s\) 4x1"),
        (DEFAULT_TEXT + ",1x1=1", "repeats cell 1x1"),
        (DEFAULT_TEXT.replace("1x1=1", "1-1=1"), "'1-1=1' is not of the form IxU=P"),
        (DEFAULT_TEXT.replace("1x1=1", "1x1=high"), "'1x1=high' is not of the form"),
        (DEFAULT_TEXT.replace("1x1=1", "1x1"), "'1x1' is not of the form"),
        ("", r"missing cell\(s\) 1x1, 1x2"),
    ],
)
def test_parse_errors_name_the_cell(text, message):
    with pytest.raises(ValueError, match=message):
        PriorityMatrix.parse(text)


def test_mapping_with_bad_value_type():
    with pytest.raises(ValueError, match="cell 1x1 is '1'"):
        PriorityMatrix({**STANDARD, (1, 1): "1"})


@pytest.mark.parametrize(
    ("severity", "urgency"),
    [
        ("critical", Urgency.HIGH),
        ("major", Urgency.HIGH),
        ("minor", Urgency.MEDIUM),
        ("warning", Urgency.MEDIUM),
        ("info", Urgency.LOW),
        (" Critical ", Urgency.HIGH),
    ],
)
def test_urgency_from_severity(severity, urgency):
    assert urgency_from_severity(severity) is urgency


@pytest.mark.parametrize("severity", ["", "fatal", "unspecified"])
def test_unknown_severity(severity):
    with pytest.raises(ValueError, match="unknown severity"):
        urgency_from_severity(severity)


@pytest.mark.parametrize(
    ("criticality", "cis", "services", "impact"),
    [
        (1, 1, 0, Impact.HIGH),
        (2, 1, 0, Impact.HIGH),
        (5, 1, 2, Impact.HIGH),  # two business services
        (5, 10, 0, Impact.HIGH),  # ten CIs
        (3, 1, 0, Impact.MEDIUM),
        (4, 3, 0, Impact.MEDIUM),  # three CIs
        (5, 1, 1, Impact.MEDIUM),  # one business service
        (5, 9, 1, Impact.MEDIUM),
        (4, 2, 0, Impact.LOW),
        (5, 0, 0, Impact.LOW),
        (None, 1, 0, Impact.MEDIUM),  # unbound alerts are medium
        (None, 0, 0, Impact.MEDIUM),
        (None, 10, 0, Impact.HIGH),
        (None, 1, 2, Impact.HIGH),
    ],
)
def test_impact_rule(criticality, cis, services, impact):
    assert impact_from(criticality, cis, services) is impact


@pytest.mark.parametrize(("criticality", "cis", "services"), [(0, 1, 0), (6, 1, 0), (3, -1, 0), (3, 1, -1)])
def test_impact_rejects_nonsense(criticality, cis, services):
    with pytest.raises(ValueError):
        impact_from(criticality, cis, services)


def test_unbound_warning_alert_is_p3():
    assert priority(impact_from(None, 1, 0), urgency_from_severity("warning")) == 3
