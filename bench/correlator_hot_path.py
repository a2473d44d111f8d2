"""Ad-hoc timing sanity check (not a test): bind + known-error match + group key for 20,000 alerts
over a 2,000-CI CMDB. Run from the repo root: python bench/correlator_hot_path.py"""

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.correlator.binding import MatchRules, bind  # noqa: E402
from services.correlator.cmdb import CI, Cmdb, Relationship  # noqa: E402
from services.correlator.grouping import GroupingPolicy, group_key_for  # noqa: E402
from services.correlator.known_errors import KnownErrorCatalog  # noqa: E402

ALERTS, HOSTS, DATABASES, APPS = 20_000, 150, 50, 1_800


def cmdb() -> Cmdb:
    cis = [CI(f"H{i}", f"host{i}", "host", aliases=(f"host{i}.dc1.example.com",)) for i in range(HOSTS)]
    cis += [CI(f"D{i}", f"db{i}", "database") for i in range(DATABASES)]
    attrs = [{"k8s_cluster": f"c{i % 4}", "namespace": f"ns{i}"} for i in range(APPS)]
    cis += [CI(f"A{i}", f"app{i}", "application", attributes=attrs[i]) for i in range(APPS)]
    rels = [Relationship(f"A{i}", "runs_on", f"H{i % HOSTS}") for i in range(APPS)]
    rels += [Relationship(f"A{i}", "depends_on", f"D{i % DATABASES}") for i in range(0, APPS, 3)]
    rels += [Relationship(f"D{i}", "runs_on", f"H{i}") for i in range(DATABASES)]
    return Cmdb.build(cis, rels)


def catalog() -> KnownErrorCatalog:
    records = []
    for i in range(300):
        matchers = [{"type": "label", "label": "alertname", "value": f"Alert{i % 40}"}]
        if i % 2:
            matchers.append({"type": "ci_class", "value": "database"})
        if i % 3 == 0:
            matchers.append({"type": "text_regex", "regex": f"(?i)error code {i}\\b"})
        records.append({"id": f"KE{i:04}", "title": "t", "matchers": matchers})
    records.append({"id": "KE-unfiled", "matchers": [{"type": "text_regex", "regex": "ORA-00600"}]})
    return KnownErrorCatalog.build(records)


def alerts(rng: random.Random) -> list[dict[str, str]]:
    shapes = [
        lambda i: {"host": f"host{i % HOSTS}"},
        lambda i: {"instance": f"host{i % HOSTS}.dc1.example.com:9100"},
        lambda i: {"ci": f"A{i % APPS}"},
        lambda i: {"cluster": f"c{i % 4}", "namespace": f"ns{i % APPS}"},
        lambda i: {"pod": f"app{i % APPS}-7f9zq"},
        lambda i: {"cluster": "c9", "service": "api"},
    ]
    out = []
    for i in range(ALERTS):
        labels = rng.choice(shapes)(i)
        labels.update(alertname=f"Alert{i % 50}", severity="critical", job="node")
        out.append(labels)
    return out


def main() -> None:
    db, kes, rng = cmdb(), catalog(), random.Random(7)
    rules = MatchRules.parse(
        {
            "attribute_rules": [{"cluster": "k8s_cluster", "namespace": "namespace"}],
            "regex_rules": [{"label": "pod", "regex": r"(?P<ci>[a-z0-9]+)-[a-z0-9]{5}"}],
        }
    )
    policy, batch = GroupingPolicy(), alerts(rng)
    text = "Disk error code 12 on /var\nsee runbook"
    bind(batch[0], db, rules)  # builds the lazy attribute index, once per configuration
    started = time.perf_counter()
    bound = matched = 0
    for labels in batch:
        binding = bind(labels, db, rules)
        ci = db.get(binding.ci_id) if binding.ci_id else None
        matched += kes.match(labels, ci.ci_class if ci else None, text) is not None
        group_key_for(binding.ci_id, labels, db, policy)
        bound += binding.ci_id is not None
    elapsed = time.perf_counter() - started
    print(f"{ALERTS} alerts over {len(db)} CIs: {elapsed * 1000:.1f} ms ({elapsed / ALERTS * 1e6:.2f} µs/alert)")
    print(f"bound {bound}, known errors matched {matched}")


if __name__ == "__main__":
    main()
