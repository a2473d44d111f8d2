"""A real HTTP webhook receiver on a loopback port (uvicorn serving a bare ASGI app), for the delivery tests.
It checks each delivery the way docs/webhooks.md tells a receiver to, on the raw bytes, independently of
the service's own code."""

import asyncio
import hashlib
import hmac
import json
import time

import uvicorn

from devstack.broker import free_port


def verified(secret: str, headers: dict[str, str], raw_body: bytes, tolerance: int = 300) -> bool:
    # The check of docs/webhooks.md, verbatim in spirit: HMAC-SHA256 over "<timestamp>." + raw body.
    timestamp = headers.get("x-triage-timestamp", "")
    signature = headers.get("x-triage-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)


class Receiver:
    """Answers `status` (or hangs when `hang`, or 503 to every `fail_every`-th request); records every delivery
    it accepts whose signature checks out."""

    def __init__(self, status: int = 200, hang: bool = False, fail_every: int = 0):
        self.secret = ""  # set once the subscription exists
        self.status, self.hang, self.fail_every = status, hang, fail_every
        self.events: list[dict] = []  # verified CloudEvents, in arrival order (repeats included)
        self.bad_signatures = 0
        self.requests = 0
        self.content_types: set[str] = set()
        self.port = free_port()
        self._release = asyncio.Event()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        """Event ids in first-arrival order (a repeat of an id already seen is dropped, as a receiver would)."""
        return list(dict.fromkeys(e["id"] for e in self.events))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests += 1
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.content_types.add(headers.get("content-type", ""))
        if self.hang:
            await self._release.wait()
        status = 503 if self.fail_every and self.requests % self.fail_every == 0 else self.status
        if status == 200:
            if verified(self.secret, headers, raw):
                self.events.append(json.loads(raw))
            else:
                self.bad_signatures += 1
                status = 401
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"no"})

    async def start(self) -> "Receiver":
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
