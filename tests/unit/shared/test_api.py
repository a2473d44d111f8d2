import pytest

from services.shared.api import field_path


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("body", "alerts", 0, "labels"), "alerts[0].labels"),
        (("body",), "body"),
        ((3, "labels"), "[3].labels"),
        (("query", "limit"), "limit"),
    ],
)
def test_field_path(loc, path):
    assert field_path(loc) == path
