import pytest
from pydantic import ValidationError

from services.shared.api import field_errors
from services.ticketing.subscriptions_api import SubscriptionIn, shown_url, url_problem


@pytest.mark.parametrize(
    "url",
    [
        "http://itsm.example.com/hook",
        "https://10.0.0.7:8443/events?token=abc",
        "HTTPS://Example.com",
        "http://[::1]:9/x",
    ],
)
def test_http_and_https_urls_are_accepted(url):
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http"),
        ("file:///etc/passwd", "http"),
        ("example.com/hook", "http"),
        ("http:///hook", "no host"),
        ("http://example.com:99999/", "valid"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\nx", "whitespace"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url, reason):
    assert reason in (url_problem(url) or "")


def test_a_password_in_a_url_is_never_shown():
    assert shown_url("https://bot:s3cret@itsm.example.com/hook") == "https://bot:***@itsm.example.com/hook"
    assert shown_url("https://itsm.example.com/hook?x=1") == "https://itsm.example.com/hook?x=1"


def errors(body) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        SubscriptionIn.model_validate(body)
    return {e.field: e.reason for e in field_errors(caught.value.errors())}


def test_bad_fields_are_named():
    assert "http" in errors({"url": "gopher://x"})["url"]
    assert "event_types[2]" in errors({"url": "http://x", "event_types": ["opened", "resolved", "exploded"]})
    assert "event_types" in errors({"url": "http://x", "event_types": []})
    assert "16" in errors({"url": "http://x", "secret": "too-short"})["secret"]
    assert "colour" in errors({"url": "http://x", "colour": "red"})


def test_event_types_default_to_all_and_repeats_fold():
    assert SubscriptionIn(url="http://x").types() == ["*"]
    assert SubscriptionIn(url="http://x", event_types=["resolved", "opened", "resolved"]).types() == [
        "resolved",
        "opened",
    ]
    assert SubscriptionIn(url="http://x", event_types=["opened", "*"]).types() == ["*"]
