"""Hostile HTTP input: schemathesis generates requests from each service's own OpenAPI (valid ones and ones
that break the schema) and sends them to the real services with an all-scopes token. Every answer must be
below 500, arrive within the timeout, and match the documented status codes, content types, headers and body
schemas; a request that breaks the schema must be refused.

The services run on a stack of their own (own broker, own database, DEBUG logs), because the fuzzing writes,
deletes and acts on whatever it finds, and its webhook subscriptions name arbitrary URLs: that ticketing gets an
HTTP proxy on a closed loopback port, so no delivery ever leaves the machine.

TRIAGE_FUZZ_CASES (default 2000) is the number of generated requests per service; TRIAGE_FUZZ_SEED (default
fixed) makes a run reproducible."""

import asyncio
import math
import multiprocessing
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.broker import free_port, start_broker
from devstack.database import create_database
from devstack.services import SERVICES, ServiceProcess
from services.shared.kafka import ensure_topics
from services.shared.settings import KafkaSettings
from tests.conftest import ALL_SCOPES, Stack

CASES = int(os.environ.get("TRIAGE_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("TRIAGE_FUZZ_SEED", "20261125"))
REQUEST_TIMEOUT = 10.0  # seconds; an answer later than this is a hang
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
REFUSALS = [400, 401, 403, 404, 409, 412, 413, 415, 422]  # what a request that breaks the schema may get
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"with-security-parameters": False},
        "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
    }
)
LONG_ARRAY = 100
CHUNK = 50  # examples per Hypothesis run: longer runs draw ever larger inputs, costing more CPU per case


@pytest.fixture(scope="module")
def fuzz_stack(postgres_server_url, tmp_path_factory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("fuzz-logs")
    broker = start_broker(log_path=logs / "broker.log")
    kafka = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=2)
    asyncio.run(ensure_topics(kafka))
    database_url = asyncio.run(create_database(postgres_server_url, f"triage_fuzz_{uuid.uuid4().hex[:12]}"))
    token, read_token, ingest_token = (secrets.token_urlsafe(24) for _ in range(3))
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: every webhook delivery fails right here
    env = {
        "KAFKA_BOOTSTRAP": kafka.kafka_bootstrap,
        "DATABASE_URL": database_url,
        "TRIAGE_TOKENS": f"fuzz:{token}:{ALL_SCOPES},reader:{read_token}:read,sender:{ingest_token}:ingest",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "DEBUG",
        "SHUTDOWN_GRACE_SECONDS": "5",
        **{name: nowhere for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")},
        "NO_PROXY": "",
        "no_proxy": "",
    }
    procs: dict[str, ServiceProcess] = {}
    try:
        for name in SERVICES:
            out = open(logs / f"{name}.log", "a")  # noqa: SIM115 - closed at teardown
            procs[name] = ServiceProcess(name, free_port(), env, out).start()
        for p in procs.values():
            p.wait_healthy(60, "/readyz")
        yield Stack(procs, token, read_token, ingest_token, logs, kafka, database_url)
    finally:
        for p in procs.values():
            p.stop()
            if p.prefix_output:
                p.prefix_output.close()
        broker.stop()


@dataclass
class Fuzzing:
    """One service's run: cases sent, and the distinct failures found (first example of each kept)."""

    base_url: str
    token: str
    sent: int = 0
    per_operation: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=lambda: {"send": 0.0, "check": 0.0})
    session: requests.Session = field(default_factory=requests.Session)

    def send(self, case) -> None:
        label = case.operation.label
        self.sent += 1
        self.per_operation[label] = self.per_operation.get(label, 0) + 1
        auth = {"Authorization": f"Bearer {self.token}"}
        started = time.process_time()
        try:
            response = case.call(base_url=self.base_url, session=self.session, headers=auth, timeout=REQUEST_TIMEOUT)
        except requests.Timeout:
            self.failures.setdefault((label, "hang"), f"no answer within {REQUEST_TIMEOUT}s:\n{case.as_curl_command()}")
            return
        except requests.ConnectionError as exc:
            self.failures.setdefault((label, "connection"), f"{exc}\n{case.as_curl_command()}")
            return
        sent = time.process_time()
        self.cpu["send"] += sent - started
        counts = self.statuses.setdefault(label, {})
        counts[response.status_code] = counts.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except FailureGroup as group:
            for failure in group.exceptions:
                self.failures.setdefault((label, failure.title), str(group))
        self.cpu["check"] += time.process_time() - sent

    def run(self, strategy: st.SearchStrategy, examples: int, seed: int) -> int:
        """Sends up to `examples` cases drawn from `strategy`; returns how many were drawn (fewer when the
        operation's input space is exhausted)."""
        before = self.sent

        @hypothesis_seed(seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # no shrinking: the failure report carries the exact request
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(case=strategy)
        def drive(case) -> None:
            self.send(case)

        try:
            drive()
        except Unsatisfiable:
            pass
        return self.sent - before


def without_long_arrays(spec: Any) -> Any:
    """The spec less `maxItems` over LONG_ARRAY: breaking "at most 10,000 alerts" means generating 10,001 of
    them, seconds of CPU per case for what test_security's size limits and the formats' unit tests cover."""
    if isinstance(spec, dict):
        return {
            k: without_long_arrays(v)
            for k, v in spec.items()
            if not (k == "maxItems" and isinstance(v, int) and v > LONG_ARRAY)
        }
    if isinstance(spec, list):
        return [without_long_arrays(v) for v in spec]
    return spec


def negatable(raw: dict, op) -> bool:
    """Whether a request can break this operation's schema: a body, a query or header parameter, or a path
    parameter more specific than any string. (Asking Hypothesis instead costs seconds per operation.)"""
    definition = raw["paths"][op.path][op.method.lower()]
    if "requestBody" in definition:
        return True
    for param in definition.get("parameters", []):
        schema = {k: v for k, v in param.get("schema", {}).items() if k not in ("title", "description")}
        if param["in"] != "path" or schema != {"type": "string"}:
            return True
    return False


def strategies(schema, raw: dict, fixed: dict[str, list[str]]) -> dict[str, st.SearchStrategy]:
    """Per operation and generation mode; operations with a path parameter named in `fixed` also draw, in
    positive mode, from existing resources, so the fuzzing reaches past 404."""
    found = {}
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path == "/readyz":
            continue  # takes no input, and says 503 while a consumer catches up: checked after the run instead
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negatable(raw, op) else [])
        for mode in modes:
            choices = [op.as_strategy(generation_mode=mode)]
            if mode is GenerationMode.POSITIVE:
                for name, values in fixed.items():
                    if "{" + name + "}" in op.path:
                        choices += [op.as_strategy(generation_mode=mode, path_parameters={name: v}) for v in values]
            found[f"{op.label} [{mode.value}]"] = st.one_of(choices)
    return found


def fuzz(service: str, base_url: str, token: str, fixed: dict[str, list[str]], cases: int, seed: int) -> dict:
    """One service's whole run, in a worker process of its own (generation is CPU-bound): a plain dict back."""
    started = time.monotonic()
    raw = httpx.get(base_url + "/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(without_long_arrays(raw), config=CONFIG)
    run = Fuzzing(base_url, token)
    active = strategies(schema, raw, fixed)
    rounds = 0
    while active and run.sent < cases:
        share = min(CHUNK, math.ceil((cases - run.sent) / len(active)))
        for i, (name, strategy) in enumerate(list(active.items())):
            if run.run(strategy, share, seed + 7919 * rounds + i) < share:
                del active[name]  # exhausted: every input it can take has been sent
        rounds += 1
    return {
        "sent": run.sent,
        "per_operation": run.per_operation,
        "statuses": run.statuses,
        "failures": [f"--- {op}: {title}\n{text}" for (op, title), text in sorted(run.failures.items())],
        "seconds": time.monotonic() - started,
        "cpu": {**run.cpu, "total": time.process_time()},
    }


def seed_references(stack: Stack) -> dict[str, list[str]]:
    """A few CIs, known errors and changes in the correlator, so their paths are fuzzed past 404."""
    with stack.client("correlator") as api:
        cis = [{"id": f"fuzz-ci-{i}", "name": f"fuzz-host-{i}", "class": "server"} for i in range(3)]
        assert api.put("/v1/cis", json=cis).status_code == 200
        known = [
            {"id": "fuzz-ke-1", "title": "Disk fills", "matchers": [{"type": "label", "label": "a", "value": "b"}]}
        ]
        assert api.put("/v1/known-errors", json=known).status_code == 200
        change = {
            "id": "fuzz-chg-1",
            "ci_ids": ["fuzz-ci-0"],
            "planned_start": "2026-01-01T00:00:00Z",
            "planned_end": "2027-01-01T00:00:00Z",
            "state": "approved",
        }
        assert api.put("/v1/changes", json=[change]).status_code == 200
    return {"ci_id": ["fuzz-ci-0"], "ke_id": ["fuzz-ke-1"], "change_id": ["fuzz-chg-1"]}


def seed_incidents(stack: Stack) -> dict[str, list[str]]:
    """A few incidents through the real pipeline, so the incident actions are fuzzed on real incidents."""
    alerts = [{"labels": {"alertname": f"FuzzTarget{i}", "host": "fuzz-host"}, "summary": "x"} for i in range(4)]
    with stack.client("ingest") as ingest:
        assert ingest.post("/v1/alerts", json=alerts).status_code == 202
    deadline = time.monotonic() + 60
    with stack.client("ticketing") as ticketing:
        while time.monotonic() < deadline:
            items = ticketing.get("/v1/incidents", params={"limit": 50}).json()["items"]
            if len(items) >= 4:
                return {"ref": [i["number"] for i in items[:4]] + [items[0]["id"]]}
            time.sleep(0.2)
    raise AssertionError("no incidents to fuzz the incident actions with")


@pytest.fixture(scope="module")
def fuzz_results(fuzz_stack) -> dict[str, dict]:
    """All three services fuzzed at once, in as many worker processes as there are cores (at most three)."""
    fixed = {"ingest": {}, "correlator": seed_references(fuzz_stack), "ticketing": seed_incidents(fuzz_stack)}
    workers = max(1, min(len(SERVICES), os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            name: pool.submit(fuzz, name, fuzz_stack.url(name), fuzz_stack.token, fixed[name], CASES, SEED + i)
            for i, name in enumerate(SERVICES)
        }
        return {name: future.result() for name, future in futures.items()}


def report(service: str, result: dict) -> str:
    cpu = ", ".join(f"{k} {v:.1f}s" for k, v in result["cpu"].items())
    lines = [
        f"{service}: {result['sent']} cases in {result['seconds']:.1f}s (CPU {cpu}), {len(result['failures'])} failures"
    ]
    for op, n in sorted(result["per_operation"].items()):
        statuses = ", ".join(f"{code}: {k}" for code, k in sorted(result["statuses"][op].items()))
        lines.append(f"  {n:5d}  {op}  ({statuses})")
    return "\n".join(lines + result["failures"])


@pytest.mark.timeout(max(1800, CASES // 2))  # the first test includes the whole run (the fixture)
@pytest.mark.parametrize("service", list(SERVICES))
def test_generated_requests_never_break_a_service(fuzz_stack, fuzz_results, service):
    result = fuzz_results[service]
    text = report(service, result)
    print(text)
    assert result["sent"] >= CASES, text
    assert not result["failures"], text
    ready = ready_within(fuzz_stack.url(service), 30)
    assert ready.status_code == 200, f"{service} not ready after the fuzzing: {ready.text}"


def ready_within(base_url: str, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = httpx.get(base_url + "/readyz", timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_debug_logs_hold_no_token(fuzz_stack, fuzz_results):
    """After thousands of authorised requests with the services logging at DEBUG, and some with tokens that
    are wrong, no log line holds a secret."""
    wrong = secrets.token_urlsafe(24)
    for name in SERVICES:
        for token in (wrong, fuzz_stack.read_token, fuzz_stack.ingest_token):
            with fuzz_stack.client(name, token) as client:
                client.post("/v1/alerts", json=[{"labels": {"a": "b"}}])
                client.put("/v1/known-errors", json=[])
                client.post("/v1/incidents/INC0000001/comments", json={"text": "x"})
    time.sleep(0.5)
    secrets_in_play = (fuzz_stack.token, fuzz_stack.read_token, fuzz_stack.ingest_token, wrong)
    for log in fuzz_stack.logs.glob("*.log"):
        text = log.read_text(errors="replace")
        for secret in secrets_in_play:
            assert secret not in text, f"{log.name} holds a token secret"
