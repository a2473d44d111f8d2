"""`triage incidents list|show|ack|resolve` on ticketing's incident API."""

import shutil
import sys
from argparse import Namespace
from datetime import UTC, datetime
from typing import Any

from . import render
from .client import Service, path
from .exits import Exit

PAGE = 500  # the API's largest page


def filters(args: Namespace) -> dict[str, Any]:
    return {
        "status": args.status,
        "priority": args.priority,
        "ci": args.ci,
        "service": args.service,
        "assignment_group": args.group,
    }


def fetch(api: Service, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Newest first, following the cursor until `limit` incidents or the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < limit:
        page = api.call(
            "GET", "/v1/incidents", params={**params, "limit": min(PAGE, limit - len(items)), "cursor": cursor}
        )
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


def list_incidents(args: Namespace, api: Service) -> Exit:
    items = fetch(api, filters(args), args.limit)
    if args.json:
        print(render.as_json(items))
    else:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(render.incident_table(items, datetime.now(UTC), width))
    return Exit.OK


def show(args: Namespace, api: Service) -> Exit:
    incident = api.call("GET", path("v1", "incidents", args.ref))
    print(render.as_json(incident) if args.json else render.incident_page(incident, datetime.now(UTC)))
    return Exit.OK


def _act(args: Namespace, api: Service, action: str, body: dict[str, Any]) -> Exit:
    headers = {"If-Match": f'"{args.if_version}"'} if args.if_version is not None else None
    incident = api.call("POST", path("v1", "incidents", args.ref, action), json=body, headers=headers)
    if args.json:
        print(render.as_json(incident))
    else:
        print(render.incident_line(incident, datetime.now(UTC)) + f"  (version {incident['version']})")
    return Exit.OK


def acknowledge(args: Namespace, api: Service) -> Exit:
    return _act(args, api, "acknowledge", {})


def resolve(args: Namespace, api: Service) -> Exit:
    return _act(args, api, "resolve", {"resolution_code": args.code, "notes": args.notes or ""})
