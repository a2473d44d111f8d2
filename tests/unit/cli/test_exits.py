"""Exit codes: the mapping from HTTP statuses, and `main` end to end where no service is needed (usage and
configuration errors, an unreachable service, a file over the API's limit, refused Kafka settings)."""

import os

import pytest

from devstack.broker import free_port
from triage_cli.__main__ import main
from triage_cli.client import Refused
from triage_cli.exits import Exit, for_status


@pytest.mark.parametrize(
    ("status", "code"),
    [(200, 0), (202, 0), (400, 1), (401, 1), (403, 1), (413, 1), (415, 1), (422, 1), (404, 4), (409, 5), (412, 5),
     (500, 3), (502, 3), (503, 3)],
)  # fmt: skip
def test_http_status_to_exit_code(status, code):
    assert for_status(status) == code


def test_a_refusal_keeps_the_servers_message_and_fields():
    body = {"error": "invalid", "message": "request rejected", "fields": [{"field": "[3].id", "reason": "missing"}]}
    refused = Refused("correlator", 422, body)
    assert refused.code == Exit.REFUSED and refused.message == "correlator answered 422: request rejected"
    assert refused.fields == [("[3].id", "missing")] and refused.details == ["  [3].id: missing"]
    busy = Refused("ingest", 503, {"error": "unavailable", "message": "broker unavailable"}, retry_after="5")
    assert busy.code == Exit.UNAVAILABLE and busy.message.endswith("(retry after 5 s)")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("TRIAGE_", "KAFKA_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


def test_no_token_is_a_usage_error(clean_env, capsys):
    assert main(["incidents", "list"]) == Exit.USAGE
    assert "no API token" in capsys.readouterr().err


def test_an_unreachable_service_exits_3_without_showing_the_token(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("TRIAGE_TOKEN", "tok-do-not-print-me")
    assert main(["incidents", "show", "INC1", "--ticketing-url", f"http://127.0.0.1:{free_port()}"]) == Exit.UNAVAILABLE
    err = capsys.readouterr().err
    assert "cannot reach ticketing" in err and "tok-do-not-print-me" not in err


def test_an_unreadable_import_file_is_a_usage_error(clean_env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TRIAGE_TOKEN", "tok")
    assert main(["cmdb", "import", str(tmp_path / "missing.csv")]) == Exit.USAGE
    (tmp_path / "cis.xml").write_text("<cis/>")
    assert main(["cmdb", "import", str(tmp_path / "cis.xml")]) == Exit.USAGE
    assert "--format" in capsys.readouterr().err


def test_a_file_over_the_api_limit_is_refused_before_sending(clean_env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TRIAGE_TOKEN", "tok")
    path = tmp_path / "big.csv"
    path.write_text("id,class\n" + "".join(f"c{i},host\n" for i in range(100_001)))
    # Nothing listens at this URL: exit 1, not 3, shows the file was refused before any request.
    code = main(["cmdb", "import", str(path), "--correlator-url", f"http://127.0.0.1:{free_port()}"])
    assert code == Exit.REFUSED
    assert "100,001 CIs; the API takes at most 100,000" in capsys.readouterr().err


def test_a_json_file_that_is_not_an_array_is_refused(clean_env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TRIAGE_TOKEN", "tok")
    path = tmp_path / "ke.json"
    path.write_text('{"id": "KE-1"}')
    assert main(["known-errors", "import", str(path)]) == Exit.REFUSED
    path.write_text("[{]")
    assert main(["known-errors", "import", str(path)]) == Exit.REFUSED
    assert "is not valid JSON" in capsys.readouterr().err


def test_incomplete_kafka_settings_are_a_usage_error_that_hides_the_password(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw-do-not-print")
    assert main(["topics", "create"]) == Exit.USAGE
    err = capsys.readouterr().err
    assert "KAFKA_SASL_MECHANISM" in err and "pw-do-not-print" not in err
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "TLS")
    assert main(["topics", "create"]) == Exit.USAGE
    assert "KAFKA_SECURITY_PROTOCOL" in capsys.readouterr().err


def test_an_unreachable_broker_exits_3(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    assert main(["topics", "create", "--timeout", "10"]) == Exit.UNAVAILABLE
    assert "cannot create topics on 127.0.0.1:" in capsys.readouterr().err
