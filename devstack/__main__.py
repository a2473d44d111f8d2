"""`make dev`: broker, PostgreSQL, topics, tokens and the three services, stopped cleanly by Ctrl-C."""

import asyncio
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

from services.shared.kafka import ensure_topics
from services.shared.settings import KafkaSettings

from .broker import start_broker
from .database import EmbeddedPostgres, forget_consumer_positions
from .services import SERVICES, start_all

RUN = Path(".run")


def dev_token() -> str:
    path = RUN / "dev-token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def say(text: str) -> None:
    print(f"\033[1m{'triage':>10} |\033[0m {text}" if sys.stdout.isatty() else f"{'triage':>10} | {text}", flush=True)


def main() -> int:
    RUN.mkdir(exist_ok=True)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    cleanups = []
    try:
        env: dict[str, str] = {"LOG_FORMAT": os.environ.get("LOG_FORMAT", "text")}
        if not os.environ.get("KAFKA_BOOTSTRAP"):
            broker = start_broker(9092, RUN / "broker.log")
            cleanups.append(broker.stop)
            env["KAFKA_BOOTSTRAP"] = broker.bootstrap
            say(f"embedded broker (Tansu) on {broker.bootstrap}, log in {RUN / 'broker.log'}")
        if not os.environ.get("DATABASE_URL"):
            pg = EmbeddedPostgres((RUN / "pg").resolve())
            cleanups.append(pg.stop)
            env["DATABASE_URL"] = pg.url
            say(f"embedded PostgreSQL in {RUN / 'pg'}")
        if "KAFKA_BOOTSTRAP" in env and asyncio.run(
            forget_consumer_positions(env.get("DATABASE_URL") or os.environ["DATABASE_URL"])
        ):
            say("a fresh in-memory broker: consumers start from the beginning of its topics")
        created = asyncio.run(ensure_topics(KafkaSettings(**_kafka_env(env))))
        say(f"topics ready{' (created ' + ', '.join(created) + ')' if created else ''}")
        token = None
        if not os.environ.get("TRIAGE_TOKENS") and not os.environ.get("TRIAGE_TOKEN_FILE"):
            token = dev_token()
            env["TRIAGE_TOKENS"] = f"dev:{token}:ingest+read+write+admin"
        procs = start_all(env, prefix_output=sys.stdout)
        cleanups.extend(p.stop for p in procs.values())
        for p in procs.values():
            p.wait_healthy(60, "/readyz")
        _banner(token)
        while not stopping.wait(0.5):
            dead = [p.name for p in procs.values() if p.proc and p.proc.poll() is not None]
            if dead:
                say(f"{', '.join(dead)} exited; stopping everything")
                return 1
        return 0
    except Exception as exc:
        say(f"could not start: {exc}")
        return 1
    finally:
        say("stopping")
        for cleanup in reversed(cleanups):
            cleanup()
        say("stopped")


def _kafka_env(env: dict[str, str]) -> dict[str, str]:
    return {"kafka_bootstrap": env.get("KAFKA_BOOTSTRAP") or os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")}


def _banner(token: str | None) -> None:
    say("all services ready")
    for name, port in SERVICES.items():
        say(f"  {name:<10} http://127.0.0.1:{port}/docs   metrics http://127.0.0.1:{port}/metrics")
    if token:
        say(f"  dev API token (all scopes): {token}")
        say(f"  try: curl -H 'Authorization: Bearer {token}' http://127.0.0.1:8083/v1/incidents")
    say("Ctrl-C stops everything")


if __name__ == "__main__":
    sys.exit(main())
