"""What one webhook delivery attempt's result means, and when the next attempt is due. Pure."""

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["delivered", "retried", "dead"]
OUTCOMES: tuple[Outcome, ...] = ("delivered", "retried", "dead")
Status = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float  # seconds after the first failure
    cap: float  # longest wait
    max_attempts: int  # the last attempt's failure is final
    jitter: float = 0.0  # fraction of a delay that may be taken off, so a burst of retries spreads out

    def delay(self, attempts: int, spread: float = 0.0) -> float:
        """Seconds to wait after the `attempts`-th failed attempt: base, 2 base, 4 base, ... up to cap, less
        `jitter * spread` of it (`spread` in [0, 1), drawn by the caller)."""
        raw = min(self.cap, self.base * 2.0 ** min(max(attempts - 1, 0), 64))
        return raw * (1.0 - self.jitter * spread)

    def schedule(self) -> list[float]:
        """The waits between attempts without jitter: what an always-failing receiver sees."""
        return [min(self.cap, self.base * 2.0 ** min(n, 64)) for n in range(self.max_attempts - 1)]


@dataclass(frozen=True, slots=True)
class Attempt:
    status_code: int | None  # None: no HTTP answer (connection refused, timeout, ...)
    error: str | None = None
    permanent: bool = False  # trying again cannot help (the stored event does not decode)

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    status: Status
    delay: float = 0.0  # until the next attempt, when retried


def judge(policy: RetryPolicy, attempts: int, attempt: Attempt, spread: float = 0.0) -> Verdict:
    """After the `attempts`-th attempt (counting this one): a 2xx delivers; anything else (redirects are not
    followed) is retried with backoff until `max_attempts`, then dead."""
    if attempt.succeeded:
        return Verdict("delivered", "delivered")
    if attempt.permanent or attempts >= policy.max_attempts:
        return Verdict("dead", "dead")
    return Verdict("retried", "pending", policy.delay(attempts, spread))
