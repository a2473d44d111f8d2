"""The command line: subcommands, their arguments, and the options every command takes (before or after the
subcommand's name)."""

import argparse

from .exits import EXIT_CODES_HELP

SEVERITIES = ("critical", "major", "minor", "warning", "info")
STATUSES = ("new", "in_progress", "on_hold", "resolved", "closed", "cancelled")

DESCRIPTION = """The triage operator's tool: load the CMDB and known errors, send a test alert, work incidents,
create the Kafka topics."""

EPILOG = f"""configuration (flags override the environment, which overrides the config file):
  TRIAGE_TOKEN, TRIAGE_TOKEN_FILE   API token (a file holding the token, e.g. .run/dev-token)
  TRIAGE_INGEST_URL                 default http://127.0.0.1:8081
  TRIAGE_CORRELATOR_URL             default http://127.0.0.1:8082
  TRIAGE_TICKETING_URL              default http://127.0.0.1:8083
  TRIAGE_TIMEOUT                    seconds per HTTP request, default 30
  config file (--config): ~/.config/triage/cli.toml with token_file, token, ingest_url,
  correlator_url, ticketing_url, timeout
  topics create reads the services' KAFKA_* variables.

{EXIT_CODES_HELP}"""


def _common() -> argparse.ArgumentParser:
    """Options valid in any position. SUPPRESS keeps a value given before the subcommand from being reset by the
    subcommand's own copy of the option."""
    common = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    common.add_argument("--config", metavar="FILE", default=s, help="config file (default ~/.config/triage/cli.toml)")
    common.add_argument("--token-file", metavar="FILE", default=s, help="file holding the API token")
    common.add_argument("--ingest-url", metavar="URL", default=s)
    common.add_argument("--correlator-url", metavar="URL", default=s)
    common.add_argument("--ticketing-url", metavar="URL", default=s)
    common.add_argument("--timeout", metavar="SECONDS", type=float, default=s, help="per HTTP request (default 30)")
    common.add_argument("-q", "--quiet", action="store_true", default=s, help="no progress or notes on stderr")
    return common


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


def build() -> argparse.ArgumentParser:
    common = _common()
    root = argparse.ArgumentParser(
        prog="triage",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def sub(parent: argparse._SubParsersAction, name: str, help: str, **kw) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help, description=help, parents=[common], **kw)

    cmdb = sub(commands, "cmdb", "the CMDB on the correlator").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = sub(cmdb, "import", "bulk upsert CIs and relationships from a CSV or JSON file (all or nothing)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=("csv", "json"), help="default: from the file name's extension")
    p.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto",
                   help="auto: a bar on a terminal, a line every 5 s otherwise")  # fmt: skip
    _json(p)
    p.set_defaults(run="cmdb_import")

    known = sub(commands, "known-errors", "known errors on the correlator")
    known_actions = known.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub(known_actions, "import", "bulk upsert known errors from a JSON array file (all or nothing)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--progress", choices=("auto", "bar", "plain", "none"), default="auto")
    _json(p)
    p.set_defaults(run="known_errors_import", format="json")

    p = sub(commands, "send-test-alert", "send a sample Alertmanager alert and print the incident it became")
    p.add_argument("--severity", choices=SEVERITIES, default="warning")
    p.add_argument("--host", default="triage-test", help="the host label: name a CI to bind the alert to it")
    p.add_argument("--label", metavar="KEY=VALUE", action="append", type=_label, default=[],
                   help="another label on the alert (repeatable), e.g. cluster=eu1 or service=shop")  # fmt: skip
    p.add_argument("--wait", metavar="SECONDS", type=float, default=60, help="how long to wait for the incident")
    p.add_argument("--resolve", action="store_true", help="then send the resolved notification too")
    _json(p)
    p.set_defaults(run="send_test_alert")

    incidents = sub(commands, "incidents", "incidents on ticketing").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = sub(incidents, "list", "incidents, newest first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--priority", type=int, choices=range(1, 6), metavar="1..5")
    p.add_argument("--ci", help="root or affected CI id")
    p.add_argument("--service", help="business service CI id")
    p.add_argument("--group", help="assignment group")
    p.add_argument("--limit", type=_positive_int, default=50, help="default 50 (pages of 500 are followed)")
    _json(p)
    p.set_defaults(run="incidents_list")
    for name, help in (("show", "one incident with its alerts, work notes and history"),
                       ("ack", "acknowledge: new -> in_progress"),
                       ("resolve", "resolve with a resolution code")):  # fmt: skip
        p = sub(incidents, name, help)
        p.add_argument("ref", metavar="REF", help="number (INC0000001) or id")
        if name != "show":
            p.add_argument("--if-version", type=int, metavar="N", help="refuse (exit 5) if the incident is not at N")
        if name == "resolve":
            p.add_argument("--code", required=True, help="resolution code, e.g. fixed, workaround, no_fault_found")
            p.add_argument("--notes", default="", help="resolution notes")
        _json(p)
        p.set_defaults(run=f"incidents_{name}")

    topics = sub(commands, "topics", "Kafka topics").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub(topics, "create", "create the missing topics (settings from KAFKA_* variables)")
    p.add_argument("--partitions", type=_positive_int, help="default KAFKA_PARTITIONS or 6")
    p.add_argument("--replication-factor", type=_positive_int, help="default KAFKA_REPLICATION_FACTOR or 1")
    _json(p)
    p.set_defaults(run="topics_create")
    return root


COMMON_DEFAULTS = {"config": None, "token_file": None, "ingest_url": None, "correlator_url": None,
                   "ticketing_url": None, "timeout": None, "quiet": False}  # fmt: skip


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    args = build().parse_args(argv)
    for key, value in COMMON_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args
