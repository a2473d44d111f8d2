"""Configuration precedence: flags over environment over the config file over defaults; the token never shown."""

import pytest

from triage_cli import config
from triage_cli.exits import Exit, Failure


def test_defaults_when_nothing_is_given():
    c = config.resolve({}, {}, {})
    assert (c.ingest_url, c.correlator_url, c.ticketing_url) == (
        "http://127.0.0.1:8081",
        "http://127.0.0.1:8082",
        "http://127.0.0.1:8083",
    )
    assert c.timeout == 30 and c.token is None and c.token_file is None


def test_flags_beat_environment_beat_file():
    file = {"ticketing_url": "http://file:1", "ingest_url": "http://file:2", "timeout": 5}
    env = config.from_environment({"TRIAGE_TICKETING_URL": "http://env:1", "TRIAGE_TIMEOUT": "7"})
    flags = {"ticketing_url": "http://flag:1/"}
    c = config.resolve(file, env, flags)
    assert (c.ticketing_url, c.ingest_url, c.timeout) == ("http://flag:1", "http://file:2", 7.0)


def test_token_and_token_file_are_one_setting_taken_from_the_strongest_layer():
    file = {"token": "from-the-config-file"}
    env = config.from_environment({"TRIAGE_TOKEN_FILE": "/run/token"})
    c = config.resolve(file, env, {})
    assert (c.token, c.token_file) == (None, "/run/token")
    # Within a layer the token wins; an empty variable counts as unset.
    env = config.from_environment({"TRIAGE_TOKEN": "abc", "TRIAGE_TOKEN_FILE": "/run/token", "TRIAGE_INGEST_URL": ""})
    c = config.resolve({}, env, {})
    assert (c.token, c.token_file, c.ingest_url) == ("abc", None, "http://127.0.0.1:8081")
    c = config.resolve({"token": "abc"}, {}, {"token_file": "/flag/token"})
    assert (c.token, c.token_file) == (None, "/flag/token")


@pytest.mark.parametrize("url", ["127.0.0.1:8083", "ftp://x", "http://"])
def test_a_url_that_is_not_http_is_a_usage_error(url):
    with pytest.raises(Failure) as caught:
        config.resolve({"ticketing_url": url})
    assert caught.value.code == Exit.USAGE and "ticketing_url" in caught.value.message


@pytest.mark.parametrize("timeout", ["0", "-1", "soon"])
def test_a_timeout_must_be_positive_seconds(timeout):
    with pytest.raises(Failure) as caught:
        config.resolve(config.from_environment({"TRIAGE_TIMEOUT": timeout}))
    assert caught.value.code == Exit.USAGE


def test_config_file_missing_default_is_empty_explicit_is_an_error(tmp_path):
    assert config.read_file(tmp_path / "none.toml", required=False) == {}
    with pytest.raises(Failure) as caught:
        config.read_file(tmp_path / "none.toml", required=True)
    assert caught.value.code == Exit.USAGE


def test_config_file_rejects_unknown_settings_and_bad_toml(tmp_path):
    path = tmp_path / "cli.toml"
    path.write_text('ticketing_ur = "http://x"\n')
    with pytest.raises(Failure, match="unknown setting"):
        config.read_file(path, required=True)
    path.write_text("ticketing_url = \n")
    with pytest.raises(Failure, match="cannot read config file"):
        config.read_file(path, required=True)


def test_load_finds_the_default_file_under_xdg_config_home(tmp_path):
    (tmp_path / "triage").mkdir()
    (tmp_path / "triage" / "cli.toml").write_text('ticketing_url = "http://from-file:9"\ntimeout = 3\n')
    c = config.load(None, {}, {"XDG_CONFIG_HOME": str(tmp_path), "TRIAGE_TIMEOUT": "4"})
    assert (c.ticketing_url, c.timeout) == ("http://from-file:9", 4.0)
    assert config.default_path({"HOME": "/home/op"}) == config.Path("/home/op/.config/triage/cli.toml")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("plain-token-value\n", "plain-token-value"),
        ("# comment\n\n  spaced-token  \nsecond", "spaced-token"),
        ("dev:the-secret-part-here:ingest+read\n", "the-secret-part-here"),  # the services' token file format
        ("# only a comment\n", None),
    ],
)
def test_secret_of_a_token_file(text, secret):
    assert config.secret_of(text) == secret


def test_token_is_read_from_its_file_and_never_shown(tmp_path):
    path = tmp_path / "token"
    path.write_text("s3cret-token-value\n")
    c = config.resolve({"token_file": str(path)})
    assert config.token(c) == "s3cret-token-value"
    shown = config.resolve({"token": "s3cret-token-value"})
    assert "s3cret" not in repr(shown)
    with pytest.raises(Failure) as caught:
        config.token(config.resolve({"token_file": str(tmp_path / "missing")}))
    assert caught.value.code == Exit.USAGE
    with pytest.raises(Failure, match="no API token"):
        config.token(config.resolve({}))
