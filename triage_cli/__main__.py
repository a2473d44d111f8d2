"""Entry point: parse, configure, run one command, and turn its outcome into an exit code."""

import sys
from argparse import Namespace
from collections.abc import Callable
from contextlib import ExitStack

from . import config as configuration
from . import imports, incidents, parser, sample_alert, topics
from .client import Service
from .exits import Exit, Failure

# command -> (the services it talks to, what it does with them)
COMMANDS: dict[str, tuple[tuple[str, ...], Callable[..., Exit]]] = {
    "cmdb_import": (("correlator",), imports.cmdb_import),
    "known_errors_import": (("correlator",), imports.known_errors_import),
    "send_test_alert": (("ingest", "ticketing"), sample_alert.send),
    "incidents_list": (("ticketing",), incidents.list_incidents),
    "incidents_show": (("ticketing",), incidents.show),
    "incidents_ack": (("ticketing",), incidents.acknowledge),
    "incidents_resolve": (("ticketing",), incidents.resolve),
    "topics_create": ((), topics.create),
}


def flags(args: Namespace) -> dict[str, object]:
    return {key: getattr(args, key) for key in configuration.KEYS if getattr(args, key, None) is not None}


def run(args: Namespace) -> Exit:
    config = configuration.load(args.config, flags(args))
    args.timeout = config.timeout
    names, command = COMMANDS[args.run]
    if not names:
        return command(args)
    token = configuration.token(config)
    with ExitStack() as stack:
        services = [stack.enter_context(Service(name, config.url(name), token, config.timeout)) for name in names]
        return command(args, *services)


def main(argv: list[str] | None = None) -> int:
    args = parser.parse(argv)
    try:
        return int(run(args))
    except Failure as failure:
        print(f"triage: error: {failure.message}", file=sys.stderr)
        for line in failure.details:
            print(line, file=sys.stderr)
        return int(failure.code)
    except KeyboardInterrupt:
        print("triage: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
