"""Bearer tokens with scopes. Secrets are kept only as SHA-256 digests and compared in constant time."""

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

SCOPES = frozenset({"ingest", "read", "write", "admin"})


class TokenConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        # admin may do anything; every other scope is exactly what it says.
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True, slots=True)
class _Token:
    principal: Principal
    digest: bytes


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_entry(entry: str, where: str) -> _Token:
    """One `name:secret:scope+scope` entry (scopes may also be separated by spaces)."""
    parts = entry.strip().split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise TokenConfigError(f"{where}: expected name:secret:scopes")
    name, secret, scope_text = (p.strip() for p in parts)
    scopes = frozenset(s for s in scope_text.replace("+", " ").split() if s)
    unknown = scopes - SCOPES
    if unknown:
        raise TokenConfigError(f"{where}: unknown scope(s) {sorted(unknown)} for token {name!r}")
    if len(secret) < 16:
        raise TokenConfigError(f"{where}: secret of token {name!r} is shorter than 16 characters")
    return _Token(Principal(name, scopes), _digest(secret))


class TokenRegistry:
    def __init__(self, tokens: list[_Token]):
        self._tokens = tokens

    @classmethod
    def load(cls, tokens: str | None, token_file: str | None) -> "TokenRegistry":
        entries = [(e, f"TRIAGE_TOKENS entry {i + 1}") for i, e in enumerate((tokens or "").split(",")) if e.strip()]
        if token_file:
            lines = Path(token_file).read_text().splitlines()
            entries += [
                (ln, f"{token_file}:{i + 1}") for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")
            ]
        parsed = [parse_entry(e, where) for e, where in entries]
        names = [t.principal.name for t in parsed]
        if len(set(names)) != len(names):
            raise TokenConfigError("token names must be unique")
        return cls(parsed)

    def __len__(self) -> int:
        return len(self._tokens)

    def authenticate(self, secret: str) -> Principal | None:
        digest = _digest(secret)
        found = None
        # Compare against every token, always, so timing says nothing about which one nearly matched.
        for token in self._tokens:
            if hmac.compare_digest(digest, token.digest):
                found = token.principal
        return found
