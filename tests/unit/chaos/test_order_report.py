"""make chaos reads from the services' own warnings how often their time-ordered merges gave order up."""

import json

from chaos.run import order_given_up
from services.shared.kafka import LATE_WARNING, STALL_WARNING


def warning(service: str, msg: str) -> str:
    return f"{service:>10} | " + json.dumps({"ts": "2026-11-25T16:00:21.425Z", "level": "warning", "msg": msg})


def test_late_records_and_given_up_waits_are_counted_per_service(tmp_path):
    (tmp_path / "ingest.log").write_text(
        "\n".join(
            [
                warning(
                    "ingest", "alerts.raw: 231 records taken after a record up to 5012 ms later (they arrived late)"
                ),
                warning("ingest", "alerts.raw partitions [3] brought nothing for 5.0s: going on without them"),
                warning("ingest", "alerts.raw: 4 records taken after a record up to 12 ms later (they arrived late)"),
            ]
        )
    )
    (tmp_path / "correlator.log").write_text(warning("correlator", "ready") + "\n")
    assert order_given_up(tmp_path) == {"ingest": (235, 1), "correlator": (0, 0)}


def test_the_lines_read_are_the_ones_the_services_write():
    late = "alerts.raw: 231 records taken after a record up to 5012 ms later (they arrived late)"
    assert LATE_WARNING % ("alerts.raw", 231, 5012) == late
    stall = "alerts.raw partitions [3] brought nothing for 5.0s: going on without them"
    assert STALL_WARNING % ("alerts.raw", [3], 5.0) == stall
