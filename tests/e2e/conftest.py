"""Fixtures for the e2e tests: the triage stack (tests/conftest.py) watched and fed by Debian's real Prometheus
and Alertmanager, started on loopback ports with generated configuration, and stopped once tests/e2e is done."""

import pytest
import yaml

from .monitoring import (
    ALERTMANAGER,
    JOBS,
    RULES,
    Daemon,
    Probe,
    eventually,
    missing_binaries,
    start_alertmanager,
    start_probe,
    start_prometheus,
)

INSTALL_HINT = "install them with `make ops-tools` (as root, with apt-get): CI must have them"

# Fires while the probe exports 1 for a series; the series' labels (host, severity, e2e_run) become the alert's.
E2E_RULES = {
    "groups": [
        {
            "name": "e2e",
            "interval": "1s",
            "rules": [
                {
                    "alert": "E2EProbeFailing",
                    "expr": "e2e_probe_failing > 0",
                    "annotations": {"summary": "e2e probe failing on {{ $labels.host }} ({{ $labels.e2e_run }})"},
                }
            ],
        }
    ]
}


def pytest_terminal_summary(terminalreporter) -> None:
    missing = missing_binaries()
    skipped = terminalreporter.stats.get("skipped", [])
    if missing and any(report.nodeid.startswith("tests/e2e/") for report in skipped):
        terminalreporter.write_line(
            f"tests/e2e SKIPPED: {', '.join(missing)} not installed; {INSTALL_HINT}", red=True, bold=True
        )


@pytest.fixture(scope="session")
def ops_binaries() -> None:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"LOUD SKIP: {', '.join(missing)} not installed; {INSTALL_HINT}")


@pytest.fixture(scope="package")
def probe(ops_binaries) -> Probe:
    p = start_probe()
    yield p
    p.close()


@pytest.fixture(scope="package")
def alertmanager(ops_binaries, stack, tmp_path_factory) -> Daemon:
    """Routes alerts carrying e2e_run to ingest's Alertmanager endpoint with the ingest token (or, with
    e2e_sender=pagerduty, through Alertmanager's PagerDuty integration to /v2/enqueue); drops the rest
    (deploy/prometheus/rules.yml is loaded too, and its alerts are not this test's business)."""
    config = {
        "route": {
            "receiver": "discard",
            "group_by": ["alertname", "e2e_run"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [
                {"receiver": "triage-pagerduty", "matchers": ['e2e_sender="pagerduty"']},
                {"receiver": "triage", "matchers": ['e2e_run=~".+"']},
            ],
        },
        "receivers": [
            {"name": "discard"},
            {  # Alertmanager's own PagerDuty integration, pointed at ingest's Events v2 endpoint
                "name": "triage-pagerduty",
                "pagerduty_configs": [
                    {
                        "url": stack.url("ingest") + "/v2/enqueue",
                        "routing_key": stack.ingest_token,
                        "severity": "{{ .CommonLabels.severity }}",
                        "description": "{{ .CommonAnnotations.summary }}",
                        "source": "{{ .CommonLabels.host }}",
                        "send_resolved": True,
                    }
                ],
            },
            {
                "name": "triage",
                "webhook_configs": [
                    {
                        "url": stack.url("ingest") + "/v1/alerts/alertmanager",
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": stack.ingest_token}},
                    }
                ],
            },
        ],
    }
    am = start_alertmanager(tmp_path_factory.mktemp(ALERTMANAGER), yaml.safe_dump(config))
    yield am
    am.stop()


@pytest.fixture(scope="package")
def prometheus(ops_binaries, stack, alertmanager, probe, tmp_path_factory) -> Daemon:
    """Scrapes the three services (job names as rules.yml expects) and the probe every second, evaluates the
    e2e rule and deploy/prometheus/rules.yml every second, and notifies the Alertmanager above."""
    services = [
        {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{stack.services[name].port}"]}]}
        for name, job in JOBS.items()
    ]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]},
        "rule_files": ["e2e-rules.yml", str(RULES)],
        "scrape_configs": [{"job_name": "e2e-probe", "static_configs": [{"targets": [probe.target]}]}, *services],
    }
    prom = start_prometheus(
        tmp_path_factory.mktemp("prometheus"), yaml.safe_dump(config), {"e2e-rules.yml": yaml.safe_dump(E2E_RULES)}
    )

    def alertmanager_discovered() -> None:
        active = prom.http.get("/api/v1/alertmanagers").json()["data"]["activeAlertmanagers"]
        assert active, "no active Alertmanager yet"

    try:
        eventually(alertmanager_discovered, 30, "Prometheus discovers Alertmanager")
    except AssertionError:
        prom.stop()
        raise
    yield prom
    prom.stop()
