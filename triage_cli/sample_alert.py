"""`triage send-test-alert`: one Alertmanager alert through ingest, then the incident it became, found on
ticketing by the alert's unique title (or, when it joined an incident already open, by its fingerprint)."""

import secrets
import sys
import time
from argparse import Namespace
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from . import render
from .client import Service, path
from .exits import Exit, Failure

ALERTNAME = "TriageTestAlert"
POLL_SECONDS = 0.5
SCAN = 100  # newest incidents looked at per poll
OPENED_PER_POLL = 20  # at most this many changed incidents opened per poll, on a busy system


def new_test_id() -> str:
    return secrets.token_hex(6)


def title_of(test_id: str) -> str:
    return f"triage test alert {test_id}"


def fingerprint_of(test_id: str) -> str:
    return f"triage-test-{test_id}"


def webhook(
    test_id: str,
    severity: str,
    host: str,
    started: datetime,
    ended: datetime | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """An Alertmanager v4 notification with one alert, exactly as a `webhook_configs` receiver posts it: firing,
    or resolved when `ended` is given."""
    ours = {"alertname": ALERTNAME, "host": host, "severity": severity, "triage_test_id": test_id}
    labels = {**dict(extra), **ours}  # --host and --severity name their labels; the rest cannot be overridden
    status = "resolved" if ended else "firing"
    return {
        "version": "4",
        "status": status,
        "receiver": "triage",
        "groupKey": f'{{}}:{{alertname="{ALERTNAME}", triage_test_id="{test_id}"}}',
        "groupLabels": {"alertname": ALERTNAME},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "triage-cli",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": title_of(test_id),
                    "description": "Sent by `triage send-test-alert` to check the path from ingest to ticketing.",
                },
                "startsAt": _rfc3339(started),
                "endsAt": _rfc3339(ended) if ended else "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": fingerprint_of(test_id),
            }
        ],
    }


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Finder:
    """Looks for the test alert's incident among the newest ones. Its title is unique; failing that (the alert
    joined an incident already open), the incidents that changed since the alert was sent are opened, each
    version once, to look for the alert's fingerprint."""

    def __init__(self, ticketing: Service, test_id: str):
        self.ticketing, self.title, self.fingerprint = ticketing, title_of(test_id), fingerprint_of(test_id)
        self._seen: set[tuple[str, int]] = set()

    def newest(self) -> list[dict[str, Any]]:
        return self.ticketing.call("GET", "/v1/incidents", params={"limit": SCAN})["items"]

    def baseline(self) -> None:
        """Call before sending: what is there now is not the test alert's doing."""
        self._seen.update((i["id"], i["version"]) for i in self.newest())

    def find(self) -> dict[str, Any] | None:
        items = self.newest()
        for item in items:
            if item["title"] == self.title:
                return item
        changed = [i for i in items if (i["id"], i["version"]) not in self._seen][:OPENED_PER_POLL]
        for item in changed:
            self._seen.add((item["id"], item["version"]))
            detail = self.ticketing.call("GET", path("v1", "incidents", item["id"]))
            if any(a["fingerprint"] == self.fingerprint for a in detail.get("alerts", [])):
                return detail
        return None


def send(args: Namespace, ingest: Service, ticketing: Service) -> Exit:
    test_id = new_test_id()
    finder = Finder(ticketing, test_id)
    finder.baseline()
    started = datetime.now(UTC)

    def post(firing: bool) -> None:
        ended = None if firing else datetime.now(UTC)
        body = webhook(test_id, args.severity, args.host, started, ended, args.label)
        ingest.call("POST", "/v1/alerts/alertmanager", json=body)

    say = (lambda *_: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    post(firing=True)
    say(f"sent {title_of(test_id)!r} (host {args.host}, severity {args.severity}); waiting for its incident")
    incident = wait_for(finder, args)
    if incident["title"] != title_of(test_id):
        say(f"the alert joined {incident['number']}, an incident already open for its group")
    if args.json:
        print(render.as_json(incident))
    else:
        now = datetime.now(UTC)
        print(render.incident_line(incident, now))
        for name, view in incident.get("sla", {}).items():
            print(f"  SLA {render.clock(name, view, now)}")
    if args.resolve:
        post(firing=False)
        say(f"sent the resolved notification: {incident['number']} resolves once all its alerts have")
    return Exit.OK


def wait_for(finder: Finder, args: Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.wait
    while (incident := finder.find()) is None:
        if time.monotonic() >= deadline:
            raise Failure(
                Exit.UNAVAILABLE,
                f"no incident for {finder.title!r} within {args.wait:g} s",
                [
                    "  check /readyz of the correlator and ticketing, and whether a maintenance window or change",
                    f"  suppresses alerts for host {args.host}",
                ],
            )
        time.sleep(POLL_SECONDS)
    return incident
