import pytest
from pydantic import ValidationError

from services.ticketing.webhook_policy import Attempt, RetryPolicy, Verdict, judge
from services.ticketing.webhook_settings import WebhookSettings

POLICY = RetryPolicy(base=1.0, cap=10.0, max_attempts=6)


def test_backoff_doubles_from_the_base_up_to_the_cap():
    assert POLICY.schedule() == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert [POLICY.delay(n) for n in range(1, 6)] == POLICY.schedule()


def test_jitter_only_shortens_a_delay_by_at_most_its_fraction():
    jittery = RetryPolicy(base=1.0, cap=10.0, max_attempts=6, jitter=0.2)
    assert jittery.delay(3, spread=0.0) == 4.0
    assert jittery.delay(3, spread=0.5) == pytest.approx(3.6)
    assert jittery.delay(3, spread=0.999) > 3.2


def test_a_very_late_attempt_waits_the_cap_without_overflowing():
    assert POLICY.delay(100_000) == 10.0


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_any_2xx_delivers(code):
    assert judge(POLICY, 1, Attempt(code)) == Verdict("delivered", "delivered")


@pytest.mark.parametrize("attempt", [Attempt(500), Attempt(301), Attempt(404), Attempt(429), Attempt(None, "refused")])
def test_anything_else_is_retried_with_backoff(attempt):
    assert judge(POLICY, 3, attempt) == Verdict("retried", "pending", 4.0)


def test_the_last_attempt_failing_is_dead():
    assert judge(POLICY, 5, Attempt(500)).outcome == "retried"
    assert judge(POLICY, 6, Attempt(500)) == Verdict("dead", "dead")
    assert judge(POLICY, 7, Attempt(None, "timeout")) == Verdict("dead", "dead")  # a crashed claim counted too


def test_a_permanent_failure_is_dead_at_once():
    assert judge(POLICY, 1, Attempt(None, "does not decode", permanent=True)) == Verdict("dead", "dead")


def test_settings_defaults_and_environment_names(monkeypatch):
    defaults = WebhookSettings()
    assert (defaults.webhook_retry_base_seconds, defaults.webhook_retry_cap_seconds) == (2.0, 1800.0)
    assert defaults.webhook_max_attempts == 16 and defaults.webhook_timeout_seconds == 10.0
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "0.5")
    settings = WebhookSettings()
    assert settings.webhook_max_attempts == 4 and settings.webhook_retry_base_seconds == 0.5


@pytest.mark.parametrize(
    "fields",
    [
        {"webhook_retry_base_seconds": 10, "webhook_retry_cap_seconds": 5},
        {"webhook_timeout_seconds": 30, "webhook_lease_seconds": 40},
        {"webhook_max_attempts": 0},
        {"webhook_retry_jitter": 1},
    ],
)
def test_inconsistent_settings_are_refused_at_start(fields):
    with pytest.raises(ValidationError):
        WebhookSettings(**fields)
