"""Talking to one triage service over HTTP: bearer token, JSON answers, and every failure turned into an exit
code (a refusal keeps the server's error body so a command can show its fields its own way)."""

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx

from .exits import Exit, Failure, for_status


class Refused(Failure):
    """A 4xx (or 5xx) answer with the server's `{"error", "message", "fields"}` body."""

    def __init__(self, service: str, status: int, body: dict[str, Any], retry_after: str | None = None):
        message = str(body.get("message") or body.get("error") or f"HTTP {status}")
        fields = [(str(f.get("field", "")), str(f.get("reason", ""))) for f in body.get("fields") or []]
        wait = f" (retry after {retry_after} s)" if retry_after else ""
        super().__init__(for_status(status), f"{service} answered {status}: {message}{wait}")
        self.status, self.error, self.fields = status, str(body.get("error", "")), fields
        self.details = [f"  {field}: {reason}" for field, reason in fields]


def path(*segments: str) -> str:
    """A URL path from segments, each escaped (an incident ref typed by a user cannot add path parts)."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


class Service:
    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ):
        self.name, self.base_url = name, base_url
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "triage-cli"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> Any:
        """The JSON of a 2xx answer (None when empty); raises Refused or Failure otherwise."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        extra = {"timeout": timeout} if timeout is not None else {}
        try:
            answer = self._http.request(
                method, url, json=json, params=params, headers=headers, content=content, **extra
            )
        except httpx.TimeoutException as exc:
            raise Failure(
                Exit.UNAVAILABLE, f"{self.name} at {self.base_url} did not answer in time ({exc.__class__.__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise Failure(Exit.UNAVAILABLE, f"cannot reach {self.name} at {self.base_url}: {exc}") from None
        if answer.is_success:
            return self._json(answer)
        raise Refused(self.name, answer.status_code, _error_body(answer), answer.headers.get("retry-after"))

    def _json(self, answer: httpx.Response) -> Any:
        if not answer.content:
            return None
        try:
            return answer.json()
        except ValueError:
            raise Failure(
                Exit.UNAVAILABLE,
                f"{self.name} at {self.base_url} answered {answer.status_code} without JSON: wrong URL?",
            ) from None


def _error_body(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"error": "http_error", "message": answer.reason_phrase or f"HTTP {answer.status_code}"}
