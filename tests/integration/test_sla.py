"""SLA clocks in real time on a ticketing process of its own (seconds-long targets, its own broker and
database): warnings, breaches and escalations in order on incidents.events, and SLA metrics that are the same
after a restart, because they come from the database."""

import asyncio
import re
import secrets
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from devstack.broker import free_port, start_broker
from devstack.database import create_database
from devstack.services import ServiceProcess
from services.shared.contracts import AlertStatus, CorrelatedAlert, IncidentEvent, Severity
from services.shared.kafka import CORRELATED, INCIDENT_EVENTS, ensure_topics
from services.shared.settings import KafkaSettings

from .kafka_tools import eventually, produce, read_all

TOKEN = secrets.token_urlsafe(24)


@pytest.fixture
def own_broker(tmp_path):
    broker = start_broker(free_port(), tmp_path / "broker.log")
    settings = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=1)
    asyncio.run(ensure_topics(settings))
    yield settings
    broker.stop()


def ticketing(kafka: KafkaSettings, db_url: str, log, port: int) -> ServiceProcess:
    env = {
        "KAFKA_BOOTSTRAP": kafka.kafka_bootstrap,
        "DATABASE_URL": db_url,
        "TRIAGE_TOKENS": f"ops:{TOKEN}:read+write",
        "LOG_FORMAT": "text",
        "TICKETING_SLA_TARGETS": "2=2s/5s",
        "TICKETING_SLA_INTERVAL": "0.1",
        "TICKETING_METRICS_INTERVAL": "0.2",
        "TICKETING_ESCALATION": '{"default_group": "desk", "escalation_groups": {"dba": "dba-leads"}}',
    }
    process = ServiceProcess("ticketing", port, env, log).start()
    process.wait_healthy(60, "/readyz")
    return process


def correlated_alert(fp: str) -> CorrelatedAlert:
    ca = CorrelatedAlert(
        event_id=str(uuid.uuid4()),
        sequence=1,
        group_key=f"alert:{fp}",
        fingerprint=fp,
        status=AlertStatus.ALERT_STATUS_FIRING,
        severity=Severity.SEVERITY_MAJOR,  # urgency high, unbound: impact medium -> P2
        title="Replication lag",
        occurrences=1,
        support_group="dba",
    )
    ca.last_seen.FromDatetime(datetime.now(UTC))
    return ca


def samples(text: str, name: str) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(rf"^{name}(\{{.*?\}})? (\S+)$", text, re.M)}


def test_a_breach_is_warned_breached_and_escalated_in_order_and_metrics_survive_a_restart(
    own_broker, postgres_server_url, tmp_path
):
    db = asyncio.run(create_database(postgres_server_url, f"sla_{uuid.uuid4().hex[:10]}"))
    port = free_port()
    with open(tmp_path / "ticketing.log", "a") as log:
        service = ticketing(own_broker, db, log, port)
        ca = correlated_alert("lagging")
        asyncio.run(produce(own_broker, CORRELATED, [(ca.group_key.encode(), ca.SerializeToString(), [])]))

        def events(records):
            out = []
            for r in records:
                e = IncidentEvent()
                e.ParseFromString(r.value)
                out.append(e)
            return out

        def complete(records):
            return sum(e.type == "sla_breach" for e in events(records)) == 2

        found = events(asyncio.run(read_all(own_broker, INCIDENT_EVENTS, complete, seconds=30)))
        story = [(e.type, e.sla_clock, e.sla_threshold, e.escalation_group, e.escalation_level) for e in found]
        assert story == [
            ("opened", "", 0.0, "", 0),
            ("sla_warning", "response", 0.75, "", 0),
            ("escalated", "response", 0.75, "dba", 1),
            ("sla_warning", "response", 0.9, "", 0),
            ("escalated", "response", 0.9, "dba", 1),
            ("sla_breach", "response", 1.0, "", 0),
            ("escalated", "response", 1.0, "dba-leads", 2),
            ("sla_warning", "resolution", 0.75, "", 0),
            ("escalated", "resolution", 0.75, "dba", 1),
            ("sla_warning", "resolution", 0.9, "", 0),
            ("escalated", "resolution", 0.9, "dba", 1),
            ("sla_breach", "resolution", 1.0, "", 0),
            ("escalated", "resolution", 1.0, "dba-leads", 2),
        ]
        assert [e.sequence for e in found] == list(range(1, 14)) and {e.priority for e in found} == {2}
        api = httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        incident = api.get(f"/v1/incidents/{found[0].number}").json()
        assert incident["sla"]["response"]["state"] == "breached" and incident["sla"]["resolution"]["breached"]
        assert api.post(f"/v1/incidents/{found[0].number}/acknowledge").status_code == 200

        def figures():
            text = httpx.get(service.url + "/metrics").text
            out = {
                "breaches": samples(text, "triage_sla_breaches_total"),
                "warnings": samples(text, "triage_sla_warnings_total"),
                "opened": samples(text, "triage_incidents_opened_total"),
                "open": samples(text, "triage_incidents_open"),
                "acked": samples(text, "triage_incident_acknowledge_seconds_count"),
            }
            assert out["acked"], "acknowledgement not counted yet"
            return out

        before = eventually(figures)
        assert before["breaches"] == {
            '{clock="resolution",priority="2"}': 1.0,
            '{clock="response",priority="2"}': 1.0,
        }
        assert sum(before["warnings"].values()) == 4 and before["opened"] == {'{priority="2"}': 1.0}
        assert before["open"] == {'{priority="2",service="",status="in_progress"}': 1.0}
        service.stop()
        service = ticketing(own_broker, db, log, port)
        assert eventually(figures) == before
        service.stop()
