"""The installed `triage` command against the real services, broker and PostgreSQL: imports with row-numbered
errors, the test alert's round trip, incident actions, topic creation, and the exit codes scripts rely on."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devstack.broker import free_port, start_broker
from services.shared.settings import KafkaSettings

from .kafka_tools import end_offsets, eventually

ENTRY_POINT = Path(sys.executable).parent / "triage"


def triage(stack, *args: str, env: dict[str, str] | None = None, home: Path | None = None, timeout: float = 60):
    """Runs the CLI as a user would, with a clean environment: no TRIAGE_*/KAFKA_* or config file of ours."""
    command = [str(ENTRY_POINT)] if ENTRY_POINT.exists() else [sys.executable, "-m", "triage_cli"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "KAFKA_"))}
    base |= {
        "HOME": str(home or Path("/nonexistent-home")),
        "XDG_CONFIG_HOME": str(home or Path("/nonexistent-home")),
        "TRIAGE_TOKEN": stack.token,
        "TRIAGE_INGEST_URL": stack.url("ingest"),
        "TRIAGE_CORRELATOR_URL": stack.url("correlator"),
        "TRIAGE_TICKETING_URL": stack.url("ticketing"),
    }
    return subprocess.run(
        [*command, *args], env=base | (env or {}), capture_output=True, text=True, timeout=timeout, check=False
    )


def own_group() -> tuple[str, ...]:
    """Alerts bound to no CI are grouped by alertname, cluster and service: a cluster of its own gives this test
    alert an incident of its own, whatever ran before."""
    return ("--label", f"cluster=cli-test-{uuid.uuid4().hex[:8]}", "--wait", "30")


def cmdb_csv(run: str, hosts: int, apps: int) -> str:
    """Apps first: their runs_on targets (hosts) come further down the same file."""
    lines = ["id,name,class,environment,criticality,support_group,aliases,attributes,runs_on,part_of"]
    lines += [
        f"{run}-app{i},app{i}-{run},application,prod,{1 + i % 5},web,,tier=app,{run}-host{i % hosts},{run}-svc"
        for i in range(apps)
    ]
    lines += [f"{run}-host{i},host{i}-{run},host,prod,3,ops,h{i}-{run}.example,rack={i % 40},," for i in range(hosts)]
    lines.append(f"{run}-svc,shop-{run},business_service,prod,1,,,,,")
    return "\n".join(lines) + "\n"


def test_cmdb_import_of_a_few_thousand_cis_from_csv(stack, tmp_path):
    run = uuid.uuid4().hex[:8]
    path = tmp_path / "cmdb.csv"
    path.write_text(cmdb_csv(run, hosts=1500, apps=2500))
    done = triage(stack, "cmdb", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "applied 4,001 CIs and 5,000 relationships" in done.stdout
    assert "importing 4,001 CIs" in done.stderr
    ci = stack.client("correlator").get(f"/v1/cis/{run}-app7").json()
    assert {(n["ci_id"], n["kind"]) for n in ci["neighbours"]} == {
        (f"{run}-host7", "runs_on"),
        (f"{run}-svc", "part_of"),
    }
    # Machine output, and the same file again is accepted (an upsert).
    again = triage(stack, "cmdb", "import", str(path), "--json", "--quiet")
    assert again.returncode == 0 and again.stderr == ""
    assert json.loads(again.stdout)["upserted"] == 4001


def test_a_bad_row_names_its_row_and_file_line_and_nothing_is_applied(stack, tmp_path):
    run = uuid.uuid4().hex[:8]
    rows = [
        "id,name,class,criticality,runs_on",
        f"{run}-a,a,host,2,",
        "",  # blank lines are not rows
        f'{run}-b,"two-line\nname",host,2,',
        f"{run}-c,c,application,3,{run}-a",
        f"{run}-d,d,application,high,{run}-b",
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    done = triage(stack, "cmdb", "import", str(path))
    assert done.returncode == 1, done.stderr
    assert "nothing was applied" in done.stderr
    assert f"{path}:7: row 3: criticality: 'high' is not an integer 1..5" in done.stderr
    assert stack.client("correlator").get(f"/v1/cis/{run}-a").status_code == 404
    # JSON: a relationship to a CI that exists nowhere names the item and the field.
    items = [{"id": f"{run}-x", "class": "host"}, {"id": f"{run}-y", "class": "app", "runs_on": [f"{run}-nowhere"]}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(items))
    done = triage(stack, "cmdb", "import", str(path))
    assert done.returncode == 1
    assert f"{path}: item 1: runs_on:" in done.stderr and f"{run}-nowhere" in done.stderr


def test_known_errors_import_and_a_test_alert_that_matches_one_then_resolves(stack, tmp_path):
    run = uuid.uuid4().hex[:8]
    host = f"cli-{run}"
    known = [
        {
            "id": f"KE-{run}",
            "title": "test alerts are expected",
            "workaround": "none needed",
            "matchers": [{"type": "label", "label": "alertname", "value": "TriageTestAlert"},
                         {"type": "label", "label": "host", "value": host}],
        }
    ]  # fmt: skip
    path = tmp_path / "known.json"
    path.write_text(json.dumps(known))
    done = triage(stack, "known-errors", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "applied 1 known errors" in done.stdout

    done = triage(
        stack, "send-test-alert", "--severity", "critical", "--host", host, *own_group(), "--json", "--resolve"
    )
    assert done.returncode == 0, done.stderr
    incident = json.loads(done.stdout)
    assert incident["title"].startswith("triage test alert ") and incident["known_error_id"] == f"KE-{run}"
    assert incident["number"].startswith("INC") and incident["status"] == "new"
    assert "sent the resolved notification" in done.stderr
    client = stack.client("ticketing")
    eventually(lambda: client.get(f"/v1/incidents/{incident['number']}").json()["status"] == "resolved", timeout=30)

    bad = tmp_path / "bad-known.json"
    bad.write_text(
        json.dumps([known[0], {"id": "KE-bad", "matchers": [{"type": "label_regex", "label": "a", "regex": "("}]}])
    )
    done = triage(stack, "known-errors", "import", str(bad))
    assert done.returncode == 1
    assert f"{bad}: item 1: matchers[0].regex: invalid regex" in done.stderr


@pytest.fixture(scope="module")
def test_incident(stack) -> dict:
    done = triage(stack, "send-test-alert", "--host", f"nowhere-{uuid.uuid4().hex[:6]}", *own_group())
    assert done.returncode == 0, done.stderr
    number = done.stdout.split()[0]
    assert number.startswith("INC") and "SLA response due" in done.stdout, done.stdout
    return stack.client("ticketing").get(f"/v1/incidents/{number}").json()


def test_incidents_list_show_ack_resolve_and_their_exit_codes(stack, test_incident):
    number = test_incident["number"]
    listed = triage(stack, "incidents", "list", "--status", "new", "--limit", "600")
    assert listed.returncode == 0 and number in listed.stdout and listed.stdout.startswith("NUMBER")
    listed = triage(stack, "incidents", "list", "--json", "--priority", str(test_incident["priority"]))
    assert number in {i["number"] for i in json.loads(listed.stdout)}

    shown = triage(stack, "incidents", "show", number)
    assert shown.returncode == 0 and shown.stdout.startswith(f"{number}  triage test alert")
    assert "alerts (1):" in shown.stdout
    assert triage(stack, "incidents", "show", "INC9999999").returncode == 4

    acked = triage(stack, "incidents", "ack", number, "--if-version", str(test_incident["version"]))
    assert acked.returncode == 0, acked.stderr
    assert f"{number}  P{test_incident['priority']}  in_progress" in acked.stdout
    again = triage(stack, "incidents", "ack", number)
    assert again.returncode == 5 and "409" in again.stderr  # illegal move: already in progress
    stale = triage(stack, "incidents", "resolve", number, "--code", "fixed", "--if-version", "1")
    assert stale.returncode == 5 and "412" in stale.stderr
    resolved = triage(stack, "incidents", "resolve", number, "--code", "fixed", "--notes", "done by the CLI", "--json")
    assert resolved.returncode == 0, resolved.stderr
    body = json.loads(resolved.stdout)
    assert (body["status"], body["resolution_code"], body["resolution_notes"]) == (
        "resolved",
        "fixed",
        "done by the CLI",
    )


def test_refusals_exit_1_without_showing_the_token_and_the_config_file_is_read(stack, tmp_path):
    refused = triage(stack, "incidents", "list", env={"TRIAGE_TOKEN": "not-a-token-of-this-stack"})
    assert refused.returncode == 1 and "401" in refused.stderr
    assert "not-a-token-of-this-stack" not in refused.stderr + refused.stdout
    forbidden = triage(stack, "incidents", "ack", "INC0000001", env={"TRIAGE_TOKEN": stack.read_token})
    assert forbidden.returncode == 1 and "403" in forbidden.stderr

    # The config file gives the token file (in the services' name:secret:scopes format) and a wrong URL, which the
    # environment overrides.
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# ops\ncli:{stack.token}:read+write\n")
    (tmp_path / "triage").mkdir()
    (tmp_path / "triage" / "cli.toml").write_text(
        f'token_file = "{token_file}"\nticketing_url = "http://127.0.0.1:{free_port()}"\n'
    )
    ok = triage(stack, "incidents", "list", home=tmp_path, env={"TRIAGE_TOKEN": ""})
    assert ok.returncode == 0, ok.stderr


def test_topics_create_on_a_fresh_broker_then_again(tmp_path, stack):
    broker = start_broker(log_path=tmp_path / "broker.log")
    try:
        env = {"KAFKA_BOOTSTRAP": broker.bootstrap}
        first = triage(stack, "topics", "create", "--partitions", "2", env=env)
        assert first.returncode == 0, first.stderr
        assert "created  alerts.normalized  (2 partitions, replication factor 1)" in first.stdout
        assert "5 created, 0 already there" in first.stdout
        assert len(asyncio.run(end_offsets(KafkaSettings(kafka_bootstrap=broker.bootstrap), "alerts.normalized"))) == 2
        second = triage(stack, "topics", "create", "--json", env=env)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["existing"] == [
            "alerts.raw", "alerts.normalized", "alerts.correlated", "incidents.events", "alerts.dlq"
        ]  # fmt: skip
    finally:
        broker.stop()


def test_send_test_alert_exits_3_when_no_incident_appears(stack):
    """A maintenance window that suppresses the host: the alert is recorded, no incident opens."""
    run = uuid.uuid4().hex[:8]
    correlator = stack.client("correlator")
    assert correlator.put("/v1/cis", json=[{"id": f"{run}-host", "name": f"quiet-{run}", "class": "host"}]).is_success
    window = {
        "id": f"mw-{run}",
        "ci_ids": [f"{run}-host"],
        "start": "2020-01-01T00:00:00Z",
        "end": "2099-01-01T00:00:00Z",
    }
    assert correlator.put("/v1/maintenance-windows", json=[window]).is_success
    done = triage(stack, "send-test-alert", "--host", f"quiet-{run}", "--wait", "3")
    assert done.returncode == 3 and "no incident for 'triage test alert" in done.stderr
