"""Real Prometheus and Alertmanager (Debian's binaries) as child processes on loopback ports, a tiny exporter
whose values a test flips, and polling with deadlines."""

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

from devstack.broker import free_port

PROMETHEUS, ALERTMANAGER, PROMTOOL, AMTOOL = "prometheus", "prometheus-alertmanager", "promtool", "amtool"
BINARIES = (PROMETHEUS, ALERTMANAGER, PROMTOOL, AMTOOL)
REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy/prometheus/rules.yml"
RULE_TESTS = REPO / "deploy/prometheus/tests.yml"
DASHBOARD = REPO / "deploy/grafana/triage-dashboard.json"
ALERTMANAGER_EXAMPLE = REPO / "deploy/prometheus/alertmanager.example.yml"
# The job names deploy/prometheus/rules.yml expects for the three services (documented in docs/ops.md).
JOBS = {"ingest": "triage-ingest", "correlator": "triage-correlator", "ticketing": "triage-ticketing"}

T = TypeVar("T")


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def eventually(check: Callable[[], T], seconds: float, what: str, every: float = 0.25) -> T:
    """check() until it returns without AssertionError (its value), or fail naming what and the last reason."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except (AssertionError, httpx.HTTPError) as exc:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what}: not within {seconds}s; last: {exc}") from None
        time.sleep(every)


@dataclass
class Daemon:
    """One Prometheus or Alertmanager process; its log is kept for the failure message."""

    name: str
    args: list[str]
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def http(self) -> httpx.Client:
        """One keep-alive client for the many queries a test makes."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=10)
        return self._http

    def start(self) -> "Daemon":
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, seconds: float = 30) -> "Daemon":
        def ready() -> None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            assert httpx.get(self.url + "/-/ready", timeout=1).status_code == 200

        eventually(ready, seconds, f"{self.name} ready (log {self.log})", every=0.1)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_alertmanager(workdir: Path, config: str) -> Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(config)
    port = free_port()
    args = [
        ALERTMANAGER,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip: a single, private instance
    ]
    return Daemon("alertmanager", args, port, workdir / "alertmanager.log").start().wait_ready()


def start_prometheus(workdir: Path, config: str, rules: Mapping[str, str]) -> Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in rules.items():
        (workdir / name).write_text(text)
    (workdir / "prometheus.yml").write_text(config)
    port = free_port()
    args = [
        PROMETHEUS,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # A notification sent before Alertmanager is discovered is dropped; resend soon after.
        "--rules.alert.resend-delay=1s",
    ]
    return Daemon("prometheus", args, port, workdir / "prometheus.log").start().wait_ready()


def query(prometheus: Daemon, expr: str) -> dict[str, Any]:
    """The whole /api/v1/query answer (status, data or errorType/error), any HTTP status."""
    return prometheus.http.get("/api/v1/query", params={"query": expr}).json()


def scalar_sum(prometheus: Daemon, expr: str) -> float:
    answer = query(prometheus, expr)
    assert answer["status"] == "success", answer
    return sum(float(r["value"][1]) for r in answer["data"]["result"])


@dataclass
class Probe:
    """A loopback exporter of one gauge, e2e_probe_failing{labels}, whose series a test sets and clears."""

    server: ThreadingHTTPServer
    series: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def set(self, labels: Mapping[str, str], value: float) -> None:
        with self.lock:
            self.series[tuple(sorted(labels.items()))] = value

    def exposition(self) -> bytes:
        with self.lock:
            lines = ["# HELP e2e_probe_failing 1 to fire the alert", "# TYPE e2e_probe_failing gauge"]
            for labels, value in self.series.items():
                text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"e2e_probe_failing{{{text}}} {value}")
        return ("\n".join(lines) + "\n").encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_probe() -> Probe:
    probe: Probe

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = probe.exposition()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    probe = Probe(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    threading.Thread(target=probe.server.serve_forever, daemon=True).start()
    return probe
