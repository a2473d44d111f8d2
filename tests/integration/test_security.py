"""Security by default, checked on the real services: every route needs a bearer token with the right scope
(routes are enumerated from the apps themselves, so a new route is covered the day it lands), no secret in a
log line or an error body, a size limit on every request body, and SQL only with parameters."""

import asyncio
import hashlib
import json
import re
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import asyncpg
import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI

from services.correlator.app import create_app as correlator_app
from services.correlator.cmdb_import import MAX_CIS
from services.correlator.settings import CorrelatorSettings
from services.ingest.app import create_app as ingest_app
from services.ingest.settings import IngestSettings
from services.shared import auth
from services.ticketing import subscriptions_api
from services.ticketing.app import create_app as ticketing_app
from services.ticketing.settings import TicketingSettings

UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
SCOPES = ("ingest", "read", "write", "admin")
SCOPE_TOKENS = {scope: f"{scope}-only-{secrets.token_urlsafe(18)}" for scope in SCOPES}


def required_scope(service: str, method: str, path: str) -> str:
    """The documented scope of each route (docs/security.md): a route that fits none of these rules is a
    route nobody decided the scope of, and fails the test."""
    if path.startswith("/v1/subscriptions"):
        return "admin"  # a subscription sends incident data out of the house
    if service == "ingest":
        return "ingest"
    return "read" if method == "GET" else "write"


# --- every route, every scope, in process (the apps as the services build them, without their lifespan) ----


def build_apps() -> dict[str, FastAPI]:
    tokens = ",".join(f"{scope}-token:{secret}:{scope}" for scope, secret in SCOPE_TOKENS.items())
    unused_db = "postgresql://nobody@127.0.0.1:1/none"  # never connected: no lifespan runs
    return {
        "ingest": ingest_app(IngestSettings(triage_tokens=tokens)),
        "correlator": correlator_app(CorrelatorSettings(triage_tokens=tokens, database_url=unused_db)),
        "ticketing": ticketing_app(TicketingSettings(triage_tokens=tokens, database_url=unused_db)),
    }


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app answers, hidden from OpenAPI or not, less the unauthenticated ones."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI versions that nest routers
    for route in flatten(app.routes) if flatten else app.routes:
        if route.path in UNAUTHENTICATED:
            continue
        for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"}):
            yield method, route.path


def concrete(path: str) -> str:
    """A path with every parameter filled by a value that parses (uuid and integer parameters included)."""
    path = path.replace("{subscription_id}", str(uuid.uuid4())).replace("{delivery_id}", "1")
    return re.sub(r"\{(\w+)\}", r"p-\1", path)


async def call(client: httpx.AsyncClient, method: str, path: str, token: str | None, scheme: str = "Bearer"):
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"{scheme} {token}"
    body = None if method in ("GET", "DELETE") else b"{}"
    return await client.request(method, concrete(path), content=body, headers=headers)


def assert_refused(response: httpx.Response, status: int, token: str | None, where: str) -> None:
    assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
    body = response.json()
    assert body["error"] == ("unauthorized" if status == 401 else "forbidden"), f"{where}: {body}"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer"), where
    if token:
        assert token not in response.text, f"{where}: the error body echoes the token"


async def test_every_route_needs_a_token_with_its_scope():
    checked = 0
    for service, app in build_apps().items():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://app") as client:
            for method, path in routes(app):
                where = f"{service} {method} {path}"
                scope = required_scope(service, method, path)
                wrong = "unknown-" + secrets.token_urlsafe(18)
                assert_refused(await call(client, method, path, None), 401, None, where + " without a token")
                assert_refused(await call(client, method, path, wrong), 401, wrong, where + " unknown token")
                basic = await call(client, method, path, SCOPE_TOKENS["admin"], scheme="Basic")
                assert_refused(basic, 401, SCOPE_TOKENS["admin"], where + " Basic scheme")
                for held, token in SCOPE_TOKENS.items():
                    response = await call(client, method, path, token)
                    if held in (scope, "admin"):
                        assert response.status_code not in (401, 403), f"{where} with {held}: {response.text}"
                    else:
                        assert_refused(response, 403, token, f"{where} with only {held}")
                checked += 1
    assert checked >= 30  # ingest 5, correlator 12, ticketing 14 routes today: enumeration did find them


async def test_pagerduty_senders_may_put_the_token_in_routing_key():
    """PagerDuty's Events API carries the integration key in the body: an ingest-scoped token there is
    enough; a token of another scope is refused, an unknown one is unauthorized; the answer never echoes it."""
    app = build_apps()["ingest"]
    event = {"event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "critical"}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://app") as client:
        for key, status in ((SCOPE_TOKENS["read"], 403), ("unknown-" + secrets.token_urlsafe(18), 401)):
            response = await client.post("/v2/enqueue", json={**event, "routing_key": key})
            assert response.status_code == status, response.text
            assert key not in response.text
        broken = await client.post("/v2/enqueue", json={**event, "routing_key": SCOPE_TOKENS["ingest"], "x": 1})
        assert broken.status_code not in (401, 403), broken.text  # past auth (then refused for the extra field)


def test_tokens_are_compared_in_constant_time(monkeypatch):
    """Every configured token is compared, with hmac.compare_digest, whichever matches or none: how long a
    check takes says nothing about which token nearly matched."""
    entries = ",".join(f"t{i}:{'s' * 16}{i:04d}:read" for i in range(5))
    registry = auth.TokenRegistry.load(entries, None)
    compared = []

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    for presented in (f"{'s' * 16}0000", f"{'s' * 16}0004", "no-such-token-at-all"):
        compared.clear()
        registry.authenticate(presented)
        assert len(compared) == 5
        assert all(a == hashlib.sha256(presented.encode()).digest() for a, _ in compared)


# --- the live services ----------------------------------------------------------------------------------------


def live_operations(stack, service: str) -> list[tuple[str, str, dict]]:
    spec = httpx.get(stack.url(service) + "/openapi.json", timeout=10).json()
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        if path not in UNAUTHENTICATED
        for method, op in ops.items()
    ]


def test_live_services_refuse_missing_wrong_and_underscoped_tokens(stack):
    wrong = "unknown-" + secrets.token_urlsafe(18)
    limited = {"read": stack.read_token, "ingest": stack.ingest_token}
    for service in ("ingest", "correlator", "ticketing"):
        with httpx.Client(base_url=stack.url(service), timeout=15) as client:
            for method, path, _ in live_operations(stack, service):
                where = f"{service} {method} {path}"
                url = concrete(path)
                body = None if method in ("GET", "DELETE") else b"{}"
                headers = {"content-type": "application/json"}
                assert_refused(client.request(method, url, content=body, headers=headers), 401, None, where)
                bad = {**headers, "authorization": f"Bearer {wrong}"}
                assert_refused(client.request(method, url, content=body, headers=bad), 401, wrong, where)
                scope = required_scope(service, method, path)
                for held, token in limited.items():
                    if held != scope:
                        mine = {**headers, "authorization": f"Bearer {token}"}
                        response = client.request(method, url, content=body, headers=mine)
                        assert_refused(response, 403, token, f"{where} with only {held}")
    for log in stack.logs.glob("*.log"):
        text = log.read_text(errors="replace")
        for secret in (stack.token, stack.read_token, stack.ingest_token, wrong):
            assert secret not in text, f"{log.name} holds a token secret"


def body_limit(service: str, path: str) -> int:
    if service == "ingest":
        return IngestSettings.model_fields["ingest_max_body_bytes"].default
    if service == "correlator":
        return CorrelatorSettings.model_fields["correlator_max_import_bytes"].default
    if path.startswith("/v1/subscriptions"):
        return subscriptions_api.MAX_BODY_BYTES
    return TicketingSettings.model_fields["ticketing_max_body_bytes"].default


def declared_too_large(base_url: str, method: str, path: str, token: str, length: int) -> tuple[int, str]:
    """Sends only the headers of a request declaring `length` bytes: the answer must come before the body."""
    parts = urlsplit(base_url)
    head = (
        f"{method} {concrete(path)} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.decode(errors="replace").partition("\r\n")
    return int(status_line.split()[1]), rest.partition("\r\n\r\n")[2]


def streamed(total: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """A chunked body (no Content-Length) of `total` bytes: the server must count as it reads."""
    yield b"["
    sent = 1
    while sent < total:
        piece = b" " * min(chunk, total - sent)
        sent += len(piece)
        yield piece


def test_every_request_body_has_a_size_limit(stack):
    checked = 0
    for service in ("ingest", "correlator", "ticketing"):
        for method, path, op in live_operations(stack, service):
            if "requestBody" not in op:
                continue
            limit = body_limit(service, path)
            status, body = declared_too_large(stack.url(service), method, path, stack.token, limit + 1)
            assert status == 413 and json.loads(body)["error"] == "too_large", f"{service} {method} {path}: {body}"
            if limit <= 1024 * 1024 or path == "/v1/cis":  # streaming past 64 MiB once is enough
                with stack.client(service) as client:
                    headers = {"content-type": "application/json"}
                    response = client.request(method, concrete(path), content=streamed(limit + 1), headers=headers)
                assert response.status_code == 413, f"{service} {method} {path} (chunked): {response.text}"
                assert response.json()["error"] == "too_large"
            checked += 1
    assert checked >= 15  # ingest 5, correlator 4, ticketing 7 (actions) + 1 (subscriptions) today


def test_cmdb_limit_fits_a_full_import_of_100000_cis():
    """The CMDB bulk limit is there against abuse, not against the CMDB: the largest import the API takes
    (MAX_CIS realistic CIs with aliases, attributes and relationships) fits well inside it."""
    sample = 1000  # of the same shape and width as all MAX_CIS; the size scales
    cis = [
        {
            "id": f"ci-{i:06d}",
            "name": f"host-{i:06d}.prod.eu-west-1.example.com",
            "class": "server",
            "environment": "production",
            "criticality": 1 + i % 5,
            "support_group": "unix-operations-emea",
            "aliases": [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", f"host-{i:06d}"],
            "attributes": {"os": "linux", "location": f"dc{i % 4}-rack-{i % 97:02d}", "owner": "team-payments"},
            "runs_on": [f"ci-{(i + 1) % MAX_CIS:06d}"],
            "depends_on": [f"ci-{(i + 7) % MAX_CIS:06d}"],
        }
        for i in range(MAX_CIS - sample, MAX_CIS)
    ]
    size = len(json.dumps(cis).encode()) * MAX_CIS // sample
    limit = CorrelatorSettings.model_fields["correlator_max_import_bytes"].default
    assert size * 1.5 < limit, f"{MAX_CIS} CIs take {size} bytes; the limit is {limit}"


# --- SQL injection: hostile text in every text field is stored and returned verbatim -----------------------

HOSTILE = [
    "'; DROP TABLE incidents; --",
    '" OR 1=1 --',
    "$1",
    "' OR '1'='1' /* */ UNION SELECT secret FROM subscriptions --",
    "1); DELETE FROM cis; TRUNCATE ticketing.incidents CASCADE; --",
    "\\'; DROP SCHEMA correlator CASCADE; -- \\\\ E'\\x27'",
    "%s %(name)s {0} ${jndi:x} :name ?",
    "_% LIKE wildcards % _",
    "ʼ OR ʼ1ʼ=ʼ1 — ünïcödé ✓ 😀 中文 עברית العربية \u200b\u202e",
    "line one\nline two\ttab \r carriage",
    "Robert'); DROP TABLE students;--" * 25,  # long (~800 characters)
]


def eventually(check, seconds: float = 60.0, interval: float = 0.25):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


async def stored(database_url: str, query: str, *args):
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def hostile_incidents(stack) -> dict[str, dict]:
    """One alert per hostile string (as summary, label value and label key) through ingest; their incidents."""
    run = uuid.uuid4().hex[:10]
    alerts = [
        {
            "labels": {"alertname": f"Injection{i}x{run}", "run": run, "hostile": text[:200], text[:100]: "key"},
            "annotations": {"description": text, text[:100]: text},
            "summary": text,
        }
        for i, text in enumerate(HOSTILE)
    ]
    with stack.client("ingest") as ingest:
        response = ingest.post("/v1/alerts", json=alerts)
    assert response.status_code == 202, response.text
    wanted = set(HOSTILE)

    def found() -> dict[str, dict]:
        with stack.client("ticketing") as ticketing:
            items = ticketing.get("/v1/incidents", params={"limit": 500}).json()["items"]
        mine = {i["title"]: i for i in reversed(items) if i["title"] in wanted}  # the newest of a title wins
        return mine if len(mine) == len(wanted) else {}

    incidents = eventually(found)
    assert incidents, "the hostile alerts did not all become incidents titled by their summaries"
    return {"run": run, "alerts": alerts, "incidents": incidents}


def test_hostile_alert_text_is_stored_verbatim(stack, hostile_incidents):
    run, alerts = hostile_incidents["run"], hostile_incidents["alerts"]
    rows = asyncio.run(
        stored(
            stack.database_url,
            "SELECT labels::text AS labels, title FROM correlator.alerts WHERE labels->>'run' = $1",
            run,
        )
    )
    by_name = {json.loads(r["labels"])["alertname"]: (json.loads(r["labels"]), r["title"]) for r in rows}
    for alert in alerts:
        labels, title = by_name[alert["labels"]["alertname"]]
        assert labels == alert["labels"] and title == alert["summary"]


def in_path(text: str) -> str:
    """Hostile text fit to be an id in a URL path: a `/` would split the path segment (the routes take one)."""
    return text[:120].replace("/", "|")


def test_hostile_cmdb_and_known_error_text_is_stored_verbatim(stack):
    run = uuid.uuid4().hex[:10]
    cis = [
        {
            "id": f"{in_path(text)}|{run}|{i}",
            "name": f"{text}|{run}",
            "class": "server",
            "environment": text[:60],
            "support_group": text[:60],
            "aliases": [f"{text}|alias|{run}"],
            "attributes": {text[:100]: text, "plain": text},
        }
        for i, text in enumerate(HOSTILE)
    ]
    known = [
        {
            "id": f"{in_path(text)}|ke|{run}",
            "title": text,
            "workaround": text,
            "problem_ref": text[:100],
            "matchers": [{"type": "label", "label": f"absent-{run}", "value": text}],
        }
        for text in HOSTILE
    ]
    with stack.client("correlator") as api:
        assert api.put("/v1/cis", json=cis).status_code == 200
        assert api.put("/v1/known-errors", json=known).status_code == 200
        for ci in cis:
            got = api.get("/v1/cis/" + quote(ci["id"], safe="")).json()
            assert (got["id"], got["name"], got["environment"], got["support_group"]) == (
                ci["id"],
                ci["name"],
                ci["environment"],
                ci["support_group"],
            )
            assert got["aliases"] == ci["aliases"] and got["attributes"] == ci["attributes"]
        for record in known:
            path = "/v1/known-errors/" + quote(record["id"], safe="")
            assert api.get(path).json() == record
            assert api.delete(path).status_code == 204
        assert api.get("/v1/cis/" + quote(HOSTILE[0], safe="")).status_code == 404


def test_hostile_incident_and_subscription_text_is_stored_verbatim(stack, hostile_incidents):
    incidents = hostile_incidents["incidents"]
    with stack.client("ticketing") as api:
        for text, incident in incidents.items():
            ref = incident["number"]
            assigned = api.post(
                f"/v1/incidents/{ref}/assign", json={"assignee": text[:256], "assignment_group": text[:256]}
            )
            assert assigned.status_code == 200, assigned.text
            assert api.post(f"/v1/incidents/{ref}/comments", json={"text": text}).status_code == 200
            resolved = api.post(f"/v1/incidents/{ref}/resolve", json={"resolution_code": text[:256], "notes": text})
            assert resolved.status_code == 200, resolved.text
            got = api.get(f"/v1/incidents/{ref}").json()
            assert (got["assignee"], got["assignment_group"]) == (text[:256], text[:256])
            assert (got["resolution_code"], got["resolution_notes"]) == (text[:256], text)
            assert text in [n["text"] for n in got["work_notes"]]
            # The filters bind the hostile text as a parameter: exactly this incident matches its group.
            listed = api.get("/v1/incidents", params={"assignment_group": text[:256], "limit": 500}).json()["items"]
            assert [i["number"] for i in listed] == [ref]
            assert api.get("/v1/incidents/" + quote(text, safe="")).status_code == 404
        for text in HOSTILE:
            created = api.post(
                "/v1/subscriptions",
                json={"url": "http://127.0.0.1:9/hostile", "description": text, "event_types": ["closed"]},
            )
            assert created.status_code == 201, created.text
            sid = created.json()["id"]
            assert api.get(f"/v1/subscriptions/{sid}").json()["description"] == text
            assert api.delete(f"/v1/subscriptions/{sid}").status_code == 204


def test_tables_survive_the_hostile_text(stack, hostile_incidents):
    tables = [
        "correlator.alerts",
        "correlator.cis",
        "correlator.known_errors",
        "ticketing.incidents",
        "ticketing.work_notes",
        "ticketing.subscriptions",
    ]
    rows = asyncio.run(
        stored(stack.database_url, "SELECT t, to_regclass(t) IS NOT NULL AS present FROM unnest($1::text[]) t", tables)
    )
    assert {r["t"]: r["present"] for r in rows} == dict.fromkeys(tables, True)
    with stack.client("ticketing") as api:
        assert api.get("/v1/incidents", params={"limit": 1}).status_code == 200
