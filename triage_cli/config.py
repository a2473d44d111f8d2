"""Where the CLI finds the services and its token: flags over environment over the config file over defaults.

The token and the token file are one setting: the strongest layer that names either wins, and within a layer
the token beats the file, so TRIAGE_TOKEN_FILE in the environment overrides a `token` in the config file."""

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .exits import Exit, Failure

DEFAULTS = {
    "ingest_url": "http://127.0.0.1:8081",
    "correlator_url": "http://127.0.0.1:8082",
    "ticketing_url": "http://127.0.0.1:8083",
    "timeout": 30.0,
}
KEYS = (*DEFAULTS, "token", "token_file")
ENVIRONMENT = {
    "TRIAGE_INGEST_URL": "ingest_url",
    "TRIAGE_CORRELATOR_URL": "correlator_url",
    "TRIAGE_TICKETING_URL": "ticketing_url",
    "TRIAGE_TIMEOUT": "timeout",
    "TRIAGE_TOKEN": "token",
    "TRIAGE_TOKEN_FILE": "token_file",
}
_CREDENTIALS = ("token", "token_file")


@dataclass(frozen=True)
class Config:
    ingest_url: str
    correlator_url: str
    ticketing_url: str
    timeout: float
    token: str | None
    token_file: str | None

    def __repr__(self) -> str:  # never show the token, not even in a traceback
        return f"Config(ingest_url={self.ingest_url!r}, ..., token={'***' if self.token else None})"

    def url(self, service: str) -> str:
        return getattr(self, f"{service}_url")


def default_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "triage" / "cli.toml"


def read_file(path: Path, required: bool) -> dict[str, Any]:
    """The config file's settings; a missing default file is simply empty."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if required:
            raise Failure(Exit.USAGE, f"config file {path} does not exist") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise Failure(Exit.USAGE, f"cannot read config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise Failure(
            Exit.USAGE, f"config file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
        )
    return data


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {key: environ[var] for var, key in ENVIRONMENT.items() if environ.get(var)}


def resolve(*layers: Mapping[str, Any]) -> Config:
    """Merge layers, weakest first (file, environment, flags), over the defaults, and check the values."""
    merged: dict[str, Any] = {**DEFAULTS, "token": None, "token_file": None}
    for layer in layers:
        given = {k: v for k, v in layer.items() if v is not None and v != ""}
        if any(k in given for k in _CREDENTIALS):
            merged["token"], merged["token_file"] = None, None
        merged.update(given)
    if merged["token"]:
        merged["token_file"] = None
    for key in ("ingest_url", "correlator_url", "ticketing_url"):
        merged[key] = _checked_url(key, str(merged[key]))
    merged["timeout"] = _checked_timeout(merged["timeout"])
    return Config(**{k: merged[k] for k in KEYS})


def _checked_url(key: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Failure(Exit.USAGE, f"{key} must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def _checked_timeout(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0:
        raise Failure(Exit.USAGE, f"timeout must be a number of seconds above 0, got {value!r}")
    return seconds


def secret_of(text: str) -> str | None:
    """The token in a token file: its first line that is not blank or a comment. A `name:secret:scopes` line
    (the services' TRIAGE_TOKEN_FILE format) yields its secret, so one file can serve both."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts = line.split(":")
            return parts[1].strip() if len(parts) == 3 else line
    return None


def token(config: Config) -> str:
    """The bearer token, read from the token file when that is how it was given."""
    if config.token:
        return config.token
    if not config.token_file:
        raise Failure(
            Exit.USAGE,
            "no API token: set TRIAGE_TOKEN or TRIAGE_TOKEN_FILE (e.g. .run/dev-token after `make dev`),"
            " pass --token-file, or put token_file in the config file",
        )
    path = Path(config.token_file).expanduser()
    try:
        found = secret_of(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure(Exit.USAGE, f"cannot read token file {path}: {exc.__class__.__name__}") from None
    if not found:
        raise Failure(Exit.USAGE, f"token file {path} holds no token")
    return found


def load(config_path: str | None, flags: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Config:
    path = Path(config_path).expanduser() if config_path else default_path(environ)
    return resolve(read_file(path, required=bool(config_path)), from_environment(environ), flags)
