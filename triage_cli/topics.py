"""`triage topics create`: the five topics on a real cluster, with the services' own Kafka settings
(KAFKA_BOOTSTRAP, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*). Topics already there are left alone."""

import asyncio
import logging
from argparse import Namespace
from typing import Any

from .exits import Exit, Failure
from .render import as_json


def settings(args: Namespace) -> Any:
    from pydantic import ValidationError

    from services.shared.settings import KafkaSettings

    overrides = {"kafka_partitions": args.partitions, "kafka_replication_factor": args.replication_factor}
    try:
        return KafkaSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # Only the message and the variable: pydantic's own text would echo the inputs, password included.
        details = [f"  {'.'.join(map(str, e['loc'])).upper() or 'KAFKA'}: {e['msg']}" for e in exc.errors()]
        raise Failure(Exit.USAGE, "invalid Kafka settings", details) from None


def create(args: Namespace) -> Exit:
    from aiokafka.errors import KafkaError

    from services.shared.kafka import ALL_TOPICS, ensure_topics

    config = settings(args)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its retries would repeat what the error says

    async def run() -> list[str]:
        async with asyncio.timeout(args.timeout):
            return await ensure_topics(config)

    try:
        created = asyncio.run(run())
    except (KafkaError, OSError, TimeoutError) as exc:
        raise Failure(Exit.UNAVAILABLE, f"cannot create topics on {config.kafka_bootstrap}: {exc!r}") from None
    existing = [t for t in ALL_TOPICS if t not in created]
    if args.json:
        print(as_json({"bootstrap": config.kafka_bootstrap, "created": created, "existing": existing}))
        return Exit.OK
    shape = f"{config.kafka_partitions} partitions, replication factor {config.kafka_replication_factor}"
    for topic in ALL_TOPICS:
        print(f"{'created' if topic in created else 'exists '}  {topic}" + (f"  ({shape})" if topic in created else ""))
    print(f"{len(created)} created, {len(existing)} already there, on {config.kafka_bootstrap}")
    return Exit.OK
