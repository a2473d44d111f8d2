"""deploy/helm/triage without a cluster or a helm binary: every template renders (see chart.py) to valid
Kubernetes documents for a minimal install and for production-like values (external Kafka with SASL_SSL,
existing Secrets, every option on), every value is documented, and what the chart says about the services
(ports, probe paths, environment, secrets, mounted files, Kafka client options) agrees with the code."""

import copy
import importlib
import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import certifi
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from gotpl import TemplateError

from devstack.services import PORT_VARIABLE, SERVICES
from services.correlator.settings import CorrelatorSettings
from services.ingest.settings import IngestSettings
from services.shared import kafka
from services.shared.migrate import SCHEMAS
from services.shared.settings import KafkaSettings
from services.ticketing.settings import TicketingSettings

from .chart import CHART, ROOT, TEMPLATES, Release, chart_metadata, coalesce, default_values, render

SETTINGS = {"ingest": IngestSettings, "correlator": CorrelatorSettings, "ticketing": TicketingSettings}
STATEFUL = set(SCHEMAS)  # the services with a schema are the ones that need DATABASE_URL
TOKEN = "alertmanager:" + "s" * 24 + ":ingest"

MINIMAL = {
    "kafka": {"bootstrap": "kafka.kafka:9092"},
    "database": {"url": "postgresql://triage:pw@db.example:5432/triage"},
    "auth": {"tokens": [TOKEN]},
}
# Strimzi with SCRAM over TLS, CloudNativePG, Secrets managed outside the chart, every option on.
PRODUCTION = {
    "image": {"repository": "ghcr.io/example/triage", "tag": "1.4.2"},
    "kafka": {
        "bootstrap": "prod-kafka-bootstrap.kafka:9093",
        "securityProtocol": "SASL_SSL",
        "partitions": 12,
        "sasl": {"mechanism": "SCRAM-SHA-512", "username": "triage", "existingSecret": "triage-kafka-user"},
        "tls": {"caSecret": "prod-cluster-ca-cert"},
        "topics": {"strimzi": True, "strimziCluster": "prod", "config": {"retention.ms": "604800000"}},
    },
    "database": {"existingSecret": "triage-db-app", "existingSecretKey": "uri"},
    "auth": {"existingSecret": "triage-tokens"},
    "secretEnv": {"TICKETING_EXAMPLE_SIGNING_KEY": "k" * 32},
    "config": {"INGEST_IDENTIFYING_LABELS": "alertmanager=alertname+instance", "CORRELATOR_SWEEP_SECONDS": 2.5},
    "ingest": {"autoscaling": {"enabled": True}, "env": {"INGEST_MAX_BODY_BYTES": 2097152}},
    "correlator": {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 40}},
    "ticketing": {"autoscaling": {"enabled": True, "maxReplicas": 4}},
    "serviceAccountName": "triage",
    "metrics": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    },
    "grafanaDashboard": {"annotations": {"grafana_folder": "Operations"}},
}
# MSK with SCRAM: public CAs (no CA bundle), user name and password both from one Secret, URL given inline.
MSK = {
    "kafka": {
        "bootstrap": "b-1.msk.example:9096,b-2.msk.example:9096",
        "securityProtocol": "SASL_SSL",
        "sasl": {
            "mechanism": "SCRAM-SHA-512",
            "existingSecret": "msk-triage",
            "usernameKey": "username",
            "passwordKey": "password",
        },
    },
    "database": {"url": "postgresql://triage:pw@triage.rds.example:5432/triage?sslmode=verify-full"},
    "auth": {"tokens": [TOKEN]},
    "networkPolicy": {"enabled": False},
}
VALUE_SETS = {"minimal": MINIMAL, "production": PRODUCTION, "msk": MSK}
EXISTING_SECRETS = {"triage-kafka-user", "prod-cluster-ca-cert", "triage-db-app", "triage-tokens", "msk-triage"}

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@cache
def rendered(value_set: str) -> Release:
    return render(VALUE_SETS[value_set])


def values_of(value_set: str) -> dict[str, Any]:
    return coalesce(default_values(), VALUE_SETS[value_set])


def container(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = doc["spec"]["template"]["spec"]["containers"]
    return only


def env_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(doc).get("env", [])}


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    return doc["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


# --- rendering --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_template_renders_to_valid_kubernetes_documents(value_set):
    release = rendered(value_set)
    templates = {p.name for p in TEMPLATES.iterdir() if not p.name.startswith("_")}
    assert set(release.texts) == templates
    assert release.missing_files == [], "the chart reads files it does not carry"
    seen = set()
    for doc in release.documents:
        assert isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str), doc
        name = doc["metadata"]["name"]
        assert DNS_LABEL.match(name) and len(name) <= 63, f"{doc['kind']} name {name!r}"
        assert (doc["kind"], name) not in seen, f"two {doc['kind']} named {name}"
        seen.add((doc["kind"], name))
        for field in ("labels", "annotations"):
            for key, value in (doc["metadata"].get(field) or {}).items():
                assert isinstance(value, str), f"{doc['kind']}/{name} {field} {key}={value!r} is not a string"
    for text in release.texts.values():
        assert "<no value>" not in text


def test_only_the_optional_integrations_are_off_by_default():
    kinds = {d["kind"] for d in rendered("minimal").documents}
    assert kinds == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Job",
    }
    kinds = {d["kind"] for d in rendered("production").documents}
    assert {"HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule", "KafkaTopic"} <= kinds


def test_long_release_names_keep_every_name_within_63_characters():
    release = render(MINIMAL, name="a-very-long-release-name-that-someone-will-surely-pick-one-day")
    assert all(len(d["metadata"]["name"]) <= 63 for d in release.documents)
    names = {d["metadata"]["name"] for d in release.of_kind("Deployment")}
    assert len(names) == 3


@pytest.mark.parametrize(
    "path, message",
    [
        ("kafka.bootstrap", "kafka.bootstrap is required"),
        ("database.url", "database.existingSecret (or database.url) is required"),
        ("auth.tokens", "auth.existingSecret (or auth.tokens) is required"),
    ],
)
def test_a_missing_required_value_fails_the_render_naming_it(path, message):
    values = copy.deepcopy(MINIMAL)
    *parents, leaf = path.split(".")
    node = values
    for key in parents:
        node = node[key]
    del node[leaf]
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(values)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"kafka": {"securityProtocol": "SASL"}}, "kafka.securityProtocol must be"),
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "kafka.sasl.mechanism must be"),
        (
            {"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "PLAIN", "username": "u"}}},
            "kafka.sasl.existingSecret (or kafka.sasl.password) is required",
        ),
        ({"terminationGracePeriodSeconds": 15}, "terminationGracePeriodSeconds must exceed"),
        (
            {"correlator": {"autoscaling": {"enabled": True, "minReplicas": 7}}},
            "correlator.autoscaling.minReplicas exceeds kafka.partitions",
        ),
        ({"kafka": {"topics": {"strimzi": True}}}, "kafka.topics.strimziCluster is required"),
    ],
)
def test_values_that_cannot_work_fail_the_render(override, message):
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(coalesce(MINIMAL, override))


# --- values.yaml ------------------------------------------------------------------------------------------


def _documented_keys() -> dict[str, list[str]]:
    """Every key reached through mappings only (list items are example data) -> its comment lines."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    found: dict[str, list[str]] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            path = f"{prefix}{key_node.value}"
            line = key_node.start_mark.line
            comments = []
            above = line - 1
            while above >= 0 and lines[above].strip().startswith("#"):
                comments.insert(0, lines[above].strip())
                above -= 1
            if "#" in lines[line]:
                comments.append(lines[line].split("#", 1)[1])
            found[path] = comments
            walk(value_node, path + ".")

    walk(yaml.compose((CHART / "values.yaml").read_text()), "")
    return found


def _template_text() -> str:
    return "\n".join(p.read_text() for p in sorted(TEMPLATES.iterdir()))


def test_every_value_is_documented_with_a_comment():
    undocumented = [path for path, comments in _documented_keys().items() if not comments]
    assert undocumented == []


def test_required_values_are_marked_required_in_values_yaml():
    documented = _documented_keys()
    text = _template_text()
    required = re.findall(r'required "[^"]*" \.Values\.([\w.]+)', text)
    either_or = re.findall(r'fail "([\w.]+) \(or ([\w.]+)\) is required', text)
    assert "kafka.bootstrap" in required and ("database.existingSecret", "database.url") in either_or
    for path in required:
        assert any("REQUIRED" in c for c in documented[path]), f"{path} is required but not marked REQUIRED"
    for first, second in either_or:
        assert any("REQUIRED" in c for c in documented[first] + documented[second]), (first, second)


def test_every_value_a_template_reads_exists_in_values_yaml():
    values = default_values()

    def exists(path: str, root: dict[str, Any]) -> bool:
        node: Any = root
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    text = _template_text()
    for path in set(re.findall(r"\.Values\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", text)):
        assert exists(path, values), f".Values.{path} is read by a template but not in values.yaml"
    # Per-service values are read as `$svc.x` with $svc one of the service sections.
    for path in set(re.findall(r"\$svc\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", text)):
        for service in SERVICES:
            assert exists(path, values[service]), f"{service}.{path} is read by a template but not in values.yaml"
    for path in set(re.findall(r"\$np\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", text)):
        assert exists(path, values["networkPolicy"]), f"networkPolicy.{path}"


# --- the services -----------------------------------------------------------------------------------------


@cache
def app_paths(service: str) -> set[str]:
    app_module = importlib.import_module(f"services.{service}.app")
    settings = SETTINGS[service](database_url="postgresql://unused/db", triage_tokens=TOKEN)
    return {getattr(route, "path", "") for route in app_module.create_app(settings).routes}


def dockerfile_user() -> int:
    users = re.findall(r"^USER\s+(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return int(users[-1].split(":")[0])


@pytest.mark.parametrize("value_set", VALUE_SETS)
@pytest.mark.parametrize("service", SERVICES)
def test_deployments_and_services_agree_with_the_code(value_set, service):
    release, values = rendered(value_set), values_of(value_set)
    port = SERVICES[service]
    deployment = release.get("Deployment", f"triage-{service}")
    main = container(deployment)
    assert main["args"] == [service]
    tag = values["image"]["tag"] or chart_metadata()["AppVersion"]
    assert main["image"] == f"{values['image']['repository']}:{tag}"
    assert main["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    env = env_of(deployment)
    assert env[PORT_VARIABLE[service]]["value"] == str(port)
    assert ("DATABASE_URL" in env) == (service in STATEFUL)
    probes = {kind: main[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"] == {"path": "/healthz", "port": "http"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "http"}
    assert {p["path"] for p in probes.values()} <= app_paths(service)
    assert "/metrics" in app_paths(service)

    svc = release.get("Service", f"triage-{service}")
    assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    assert selects(svc["spec"]["selector"], pod_labels(deployment))
    assert [d for d in release.of_kind("Deployment") if selects(svc["spec"]["selector"], pod_labels(d))] == [deployment]

    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == dockerfile_user()
    config = release.get("ConfigMap", "triage")["data"]
    grace = float(config["SHUTDOWN_GRACE_SECONDS"]) + float(main["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > grace
    assert config["BIND_HOST"] == "0.0.0.0"


def test_numbers_in_environment_values_are_written_as_the_services_parse_them():
    release = rendered("production")
    assert env_of(release.get("Deployment", "triage-ingest"))["INGEST_MAX_BODY_BYTES"]["value"] == "2097152"
    assert release.get("ConfigMap", "triage")["data"]["CORRELATOR_SWEEP_SECONDS"] == "2.5"


def test_chart_app_version_is_the_project_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart_metadata()["AppVersion"] == project["version"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_environment_variable_is_a_setting_of_the_service(value_set):
    """Catches a misspelt variable, which pydantic-settings would silently ignore."""
    release, values = rendered(value_set), values_of(value_set)
    config = release.get("ConfigMap", "triage")["data"]
    known = {service: {name.upper() for name in settings.model_fields} for service, settings in SETTINGS.items()}
    shared = set(values["config"])  # `config` goes to every service: each key must be read by one of them
    assert shared <= set().union(*known.values()), f"no service reads {sorted(shared - set().union(*known.values()))}"
    for service in SERVICES:
        deployment = release.get("Deployment", f"triage-{service}")
        names = (set(config) | set(env_of(deployment))) - shared - set(values["secretEnv"])  # secretEnv: free-form
        assert names <= known[service], f"{service} gets variables it does not read: {sorted(names - known[service])}"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_secret_and_config_reference_resolves(value_set):
    release = rendered(value_set)
    secrets = {d["metadata"]["name"]: d for d in release.of_kind("Secret")}
    configmaps = {d["metadata"]["name"]: d for d in release.of_kind("ConfigMap")}

    def check_secret(name: str, key: str, hook_weight: int | None) -> None:
        if name in EXISTING_SECRETS:
            return
        assert name in secrets, f"Secret {name} is neither rendered nor an existing one"
        assert key in secrets[name]["data"], f"Secret {name} has no key {key}"
        if hook_weight is not None:  # a hook runs before the release's plain resources exist
            annotations = secrets[name]["metadata"].get("annotations", {})
            assert "pre-install" in annotations.get("helm.sh/hook", ""), f"hook reads non-hook Secret {name}"
            assert int(annotations["helm.sh/hook-weight"]) < hook_weight

    for workload in release.of_kind("Deployment") + release.of_kind("Job"):
        annotations = workload["metadata"].get("annotations", {})
        hook_weight = int(annotations["helm.sh/hook-weight"]) if "helm.sh/hook" in annotations else None
        pod = workload["spec"]["template"]["spec"]
        for entry in container(workload).get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                check_secret(ref["name"], ref["key"], hook_weight)
        for source in container(workload).get("envFrom", []):
            assert source["configMapRef"]["name"] in configmaps
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                for item in volume["secret"]["items"]:
                    check_secret(volume["secret"]["secretName"], item["key"], hook_weight)


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_files_the_services_read_are_mounted_where_the_config_says(value_set):
    release = rendered(value_set)
    config = release.get("ConfigMap", "triage")["data"]
    files = {k: config[k] for k in ("TRIAGE_TOKEN_FILE", "KAFKA_SSL_CAFILE") if k in config}
    assert "TRIAGE_TOKEN_FILE" in files
    assert ("KAFKA_SSL_CAFILE" in files) == (value_set == "production")
    for deployment in release.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
        for variable, path in files.items():
            directory, filename = str(Path(path).parent), Path(path).name
            assert directory in mounts, f"{variable}={path}: nothing mounted at {directory}"
            volume = volumes[mounts[directory]]
            source = volume.get("secret") or volume.get("configMap")
            assert filename in {item["path"] for item in source["items"]}, f"{variable}: no {filename} in volume"


@pytest.mark.parametrize("value_set", ["production", "msk"])
async def test_rendered_kafka_settings_make_a_sasl_ssl_client(value_set, monkeypatch):
    """ConfigMap + Secret environment -> KafkaSettings -> client_options -> aiokafka clients accept it."""
    release = rendered(value_set)
    config = release.get("ConfigMap", "triage")["data"]
    deployment = release.get("Deployment", "triage-correlator")
    environment = dict(config)
    for name, entry in env_of(deployment).items():
        environment[name] = entry.get("value", f"from-secret-{name}")
    if "KAFKA_SSL_CAFILE" in environment:
        environment["KAFKA_SSL_CAFILE"] = certifi.where()  # the mounted CA bundle
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = KafkaSettings()
    options = kafka.client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] and options["sasl_plain_password"] == "from-secret-KAFKA_SASL_PASSWORD"
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    assert options["bootstrap_servers"] == VALUE_SETS[value_set]["kafka"]["bootstrap"]
    producer = AIOKafkaProducer(**options)
    consumer = AIOKafkaConsumer(**options, group_id="triage-correlator")
    await producer.stop()
    await consumer.stop()


# --- scaling, disruption, network ---------------------------------------------------------------------


def test_autoscaling_of_consumers_is_bounded_by_partitions():
    release, values = rendered("production"), values_of("production")
    partitions = values["kafka"]["partitions"]
    hpas = {h["metadata"]["name"]: h for h in release.of_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == {f"triage-{s}" for s in SERVICES}
    for service in SERVICES:
        hpa = hpas[f"triage-{service}"]
        wanted = values[service]["autoscaling"]["maxReplicas"]
        bound = min(wanted, partitions) if service in STATEFUL else wanted
        assert hpa["spec"]["maxReplicas"] == bound
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", f"triage-{service}")
        assert "replicas" not in release.get("Deployment", target["name"])["spec"]
    assert hpas["triage-correlator"]["spec"]["maxReplicas"] == partitions  # 40 asked, 12 partitions


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_disruption_budgets_and_network_policies_select_one_workload(value_set):
    release = rendered(value_set)
    workloads = release.of_kind("Deployment") + release.of_kind("Job")
    for doc in release.of_kind("PodDisruptionBudget") + release.of_kind("NetworkPolicy"):
        selector = doc["spec"].get("selector") or doc["spec"]["podSelector"]
        matched = [w["metadata"]["name"] for w in workloads if selects(selector["matchLabels"], pod_labels(w))]
        assert len(matched) == 1, f"{doc['kind']} {doc['metadata']['name']} selects {matched}"


def test_network_policies_let_through_exactly_the_pipeline():
    release, values = rendered("production"), values_of("production")
    policies = {p["metadata"]["name"].removeprefix("triage-"): p["spec"] for p in release.of_kind("NetworkPolicy")}
    assert set(policies) == set(SERVICES) | {"migrate"}
    prometheus = {"namespaceSelector": values["networkPolicy"]["prometheusNamespaceSelector"]}

    def egress_ports(spec: dict[str, Any]) -> set[int]:
        return {p["port"] for rule in spec["egress"] for p in rule["ports"]}

    for service in SERVICES:
        spec = policies[service]
        sources = [peer for rule in spec["ingress"] for peer in rule.get("from", [{"anyone": True}])]
        assert prometheus in sources, f"Prometheus cannot scrape {service}"
        assert all(p["port"] == "http" for rule in spec["ingress"] for p in rule["ports"])
        assert set(values["networkPolicy"]["kafkaEgress"]["ports"]) <= egress_ports(spec)
        assert (5432 in egress_ports(spec)) == (service in STATEFUL)
        assert (443 in egress_ports(spec)) == (service == "ticketing")  # webhook deliveries
    ingest_sources = [peer for rule in policies["ingest"]["ingress"] for peer in rule.get("from", [])]
    assert all(peer in ingest_sources for peer in values["networkPolicy"]["ingestFrom"])
    assert policies["migrate"]["ingress"] == [] and egress_ports(policies["migrate"]) == {53, 5432}


# --- migrations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_migration_job_runs_migrate_before_install_and_upgrade(value_set):
    release = rendered(value_set)
    (job,) = release.of_kind("Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    main = container(job)
    assert main["args"][0] == "migrate" and "--wait" in main["args"]
    assert "DATABASE_URL" in env_of(job)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == dockerfile_user()


def test_the_migration_job_can_be_left_to_the_services():
    assert render(MINIMAL | {"migrations": {"enabled": False}}).of_kind("Job") == []


# --- observability ----------------------------------------------------------------------------------------


def test_chart_files_are_links_to_deploy_not_copies():
    for linked, target in [
        ("files/prometheus/rules.yml", "deploy/prometheus/rules.yml"),
        ("files/grafana/triage-dashboard.json", "deploy/grafana/triage-dashboard.json"),
    ]:
        path = CHART / linked
        assert path.is_symlink(), f"{linked} should link to {target} (helm package stores the target's content)"
        assert path.resolve() == (ROOT / target).resolve()
        assert path.is_file(), f"{target} is missing"


def test_prometheus_rule_carries_deploy_prometheus_rules_unchanged():
    rule = rendered("production").get("PrometheusRule", "triage")
    expected = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text())["groups"]
    assert rule["spec"]["groups"] == expected
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_service_monitor_scrapes_metrics_under_the_job_names_the_rules_expect():
    release = rendered("production")
    monitor = release.get("ServiceMonitor", "triage")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    for svc in release.of_kind("Service"):
        assert selects(monitor["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    assert relabel["sourceLabels"] == ["__meta_kubernetes_service_label_app_kubernetes_io_component"]
    rules = (ROOT / "deploy/prometheus/rules.yml").read_text()
    job_pattern = re.search(r'up\{job=~"([^"]+)"\}', rules)
    for service in SERVICES:
        job = relabel["replacement"].replace("$1", service)
        assert job == f"triage-{service}"
        if job_pattern:
            assert re.fullmatch(job_pattern.group(1), job), f"rules.yml does not select job {job}"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_grafana_dashboard_configmap_is_the_dashboard_for_the_sidecar(value_set):
    dashboard = rendered(value_set).get("ConfigMap", "triage-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (key,) = dashboard["data"]
    expected = json.loads((ROOT / "deploy/grafana/triage-dashboard.json").read_text())
    assert json.loads(dashboard["data"][key]) == expected


def test_strimzi_topics_are_the_topics_the_services_use():
    release, values = rendered("production"), values_of("production")
    topics = release.of_kind("KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(kafka.ALL_TOPICS)
    for topic in topics:
        assert topic["spec"]["partitions"] == values["kafka"]["partitions"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "prod"
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
