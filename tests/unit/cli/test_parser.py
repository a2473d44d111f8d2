"""The command line: subcommands, options in any position, and argparse's usage errors (exit 2)."""

import pytest

from triage_cli import parser
from triage_cli.exits import EXIT_CODES_HELP


def test_common_options_work_before_and_after_the_subcommand():
    before = parser.parse(["--timeout", "5", "--ticketing-url", "http://t:1", "incidents", "list"])
    after = parser.parse(["incidents", "list", "--timeout", "5", "--ticketing-url", "http://t:1"])
    for args in (before, after):
        assert (args.timeout, args.ticketing_url, args.run) == (5.0, "http://t:1", "incidents_list")


def test_unset_common_options_are_none():
    args = parser.parse(["incidents", "list"])
    assert (args.config, args.token_file, args.timeout, args.quiet) == (None, None, None, False)
    assert (args.limit, args.json, args.status) == (50, False, None)


def test_incident_filters_and_actions():
    args = parser.parse(
        ["incidents", "list", "--status", "on_hold", "--priority", "2", "--ci", "db1", "--group", "dba", "--json"]
    )
    assert (args.status, args.priority, args.ci, args.group, args.json) == ("on_hold", 2, "db1", "dba", True)
    args = parser.parse(["incidents", "resolve", "INC0000007", "--code", "fixed", "--notes", "n", "--if-version", "3"])
    assert (args.run, args.ref, args.code, args.notes, args.if_version) == (
        "incidents_resolve",
        "INC0000007",
        "fixed",
        "n",
        3,
    )
    assert parser.parse(["incidents", "ack", "INC1"]).if_version is None


def test_send_test_alert_options():
    args = parser.parse(["send-test-alert", "--severity", "critical", "--host", "db01", "--label", "cluster=eu1"])
    assert (args.severity, args.host, args.label, args.wait, args.resolve) == (
        "critical", "db01", [("cluster", "eu1")], 60, False
    )  # fmt: skip
    assert parser.parse(["send-test-alert"]).severity == "warning"


def test_imports_and_topics():
    args = parser.parse(["cmdb", "import", "cis.txt", "--format", "csv", "--progress", "plain", "-q"])
    assert (args.run, args.file, args.format, args.progress, args.quiet) == (
        "cmdb_import",
        "cis.txt",
        "csv",
        "plain",
        True,
    )
    args = parser.parse(["known-errors", "import", "ke.json"])
    assert (args.run, args.format) == ("known_errors_import", "json")
    args = parser.parse(["topics", "create", "--partitions", "12", "--replication-factor", "3"])
    assert (args.run, args.partitions, args.replication_factor) == ("topics_create", 12, 3)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["incidents"],
        ["incidents", "resolve", "INC1"],  # --code is required
        ["incidents", "list", "--priority", "9"],
        ["incidents", "list", "--limit", "0"],
        ["incidents", "list", "--status", "open"],
        ["send-test-alert", "--severity", "loud"],
        ["send-test-alert", "--label", "novalue"],
        ["cmdb", "import"],
        ["cmdb", "import", "x.csv", "--format", "xml"],
        ["topics", "create", "--partitions", "0"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        parser.parse(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_documents_the_exit_codes_and_the_configuration(capsys):
    with pytest.raises(SystemExit) as caught:
        parser.parse(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert EXIT_CODES_HELP in out
    for name in ("TRIAGE_TOKEN_FILE", "TRIAGE_INGEST_URL", "TRIAGE_CORRELATOR_URL", "TRIAGE_TICKETING_URL", "cli.toml"):
        assert name in out
