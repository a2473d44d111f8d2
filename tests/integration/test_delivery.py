"""At-least-once delivery, idempotent processing: copies change nothing, poison goes to the DLQ."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from services.shared.contracts import Alert, AlertStatus, CorrelatedAlert, Severity
from services.shared.kafka import CORRELATED, DEAD_LETTER, NORMALIZED

from .kafka_tools import end_offsets, eventually, produce, read_all


def alert(fingerprint: str, event_id: str, title: str, firing: bool = True, at: datetime | None = None) -> Alert:
    a = Alert(
        event_id=event_id,
        fingerprint=fingerprint,
        source="native",
        summary=title,
        status=AlertStatus.ALERT_STATUS_FIRING if firing else AlertStatus.ALERT_STATUS_RESOLVED,
        severity=Severity.SEVERITY_MAJOR,
        sequence=1,
    )
    a.labels["alertname"] = title
    a.received_at.FromDatetime(at or datetime.now(UTC))
    return a


def find(stack, title: str) -> dict | None:
    items = stack.client("ticketing").get("/v1/incidents", params={"limit": 500}).json()["items"]
    return next((i for i in items if i["title"] == title), None)


def correlated(fingerprint: str, title: str, group_key: str = "") -> CorrelatedAlert:
    ca = CorrelatedAlert(
        event_id=str(uuid.uuid4()),
        sequence=1,
        group_key=group_key or f"alert:{fingerprint}",
        fingerprint=fingerprint,
        status=AlertStatus.ALERT_STATUS_FIRING,
        severity=Severity.SEVERITY_MAJOR,
        title=title,
        occurrences=1,
    )
    ca.last_seen.FromDatetime(datetime.now(UTC))
    return ca


def send(stack, topic: str, *messages: tuple[str, bytes]) -> None:
    asyncio.run(produce(stack.kafka, topic, [(key.encode(), value, []) for key, value in messages]))


def test_a_copy_of_an_alert_event_is_counted_once(stack):
    title, fp = f"copy-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    one, two = alert(fp, "event-1", title).SerializeToString(), alert(fp, "event-2", title).SerializeToString()
    send(stack, NORMALIZED, (fp, one), (fp, one), (fp, two), (fp, one))
    incident = eventually(lambda: (i := find(stack, title)) and i["alert_count"] == 2 and i)
    assert incident["alert_count"] == 2


def test_repeats_held_back_are_counted_at_the_next_change_and_told_when_their_interval_ends(stack):
    """The stack holds repeats for 1 s: a's two repeats are not told before b fires in the same group, yet the
    incident's change for b counts them; a's own count reaches the incident when the sweep tells it (the alerts'
    times are the clock's, so either of the sweep's reasons may be the one)."""
    title, a, b = f"held-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, uuid.uuid4().hex
    start = asyncio.run(end_offsets(stack.kafka, CORRELATED))
    now = datetime.now(UTC)
    fired = [alert(a, f"a-{n}", title, at=now + timedelta(milliseconds=100 * n)) for n in range(3)]
    fired.append(alert(b, "b-0", title, at=now + timedelta(milliseconds=300)))
    # One produce, each record stamped with its alert's time: the four are correlated together, in that order,
    # long before a's hold ends (1 s of alert time, or 1 s of the clock without a sighting).
    stamped = [(x.fingerprint.encode(), x.SerializeToString(), [], x.received_at.ToMilliseconds()) for x in fired]
    asyncio.run(produce(stack.kafka, NORMALIZED, stamped))

    def detail() -> dict | None:
        found = find(stack, title)
        return found and stack.client("ticketing").get(f"/v1/incidents/{found['id']}").json()

    updated = eventually(lambda: (d := detail()) and [h for h in d["history"] if h["type"] == "updated"])
    assert updated[0]["changes"]["alert_count"][1] == 4  # a three times and b once, at b's change
    told = eventually(
        lambda: (d := detail()) and {x["fingerprint"]: x["occurrences"] for x in d["alerts"]} == {a: 3, b: 1} and d
    )
    assert told["alert_count"] == 4 and told["version"] == updated[0]["version"]  # the late tell is no new version
    records = asyncio.run(read_all(stack.kafka, CORRELATED, lambda rs: False, seconds=2, start=start))
    emitted = [CorrelatedAlert.FromString(r.value) for r in records]
    mine = [(ca.fingerprint, ca.occurrences, ca.group_occurrences) for ca in emitted if ca.fingerprint in (a, b)]
    assert mine == [(a, 1, 1), (b, 1, 4), (a, 3, 4)]  # a's repeats told once, after b's change


def test_a_redelivered_correlated_alert_changes_nothing(stack):
    title, fp = f"redelivered-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    ca = correlated(fp, title)
    later = CorrelatedAlert()
    later.CopyFrom(ca)
    later.sequence, later.occurrences = 2, 5
    send(
        stack,
        CORRELATED,
        (ca.group_key, ca.SerializeToString()),
        (ca.group_key, later.SerializeToString()),
        (ca.group_key, ca.SerializeToString()),
        (ca.group_key, later.SerializeToString()),
    )
    incident = eventually(lambda: (i := find(stack, title)) and i["alert_count"] == 5 and i)
    marker_fp = uuid.uuid4().hex
    marker = correlated(marker_fp, title, group_key=ca.group_key)
    send(stack, CORRELATED, (ca.group_key, ca.SerializeToString()), (ca.group_key, marker.SerializeToString()))
    # The stale copy before the marker was skipped: the count is 5 + the marker's 1, and the version moved once.
    after = eventually(lambda: (i := find(stack, title)) and i["alert_count"] == 6 and i)
    assert after["version"] == incident["version"] + 1 and after["status"] == "new"


def test_poison_goes_to_the_dead_letter_topic_and_the_partition_keeps_moving(stack):
    before = asyncio.run(end_offsets(stack.kafka, DEAD_LETTER))
    title, fp = f"after-poison-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    send(
        stack, NORMALIZED, (fp, b"\xff\xfe definitely not protobuf"), (fp, alert(fp, "ok-1", title).SerializeToString())
    )
    send(stack, CORRELATED, (fp, b"\x0a\x05"))
    eventually(lambda: find(stack, title))

    def dead_letters(records):
        return (
            sum(
                1
                for r in records
                if dict(r.headers).get("dlq.topic") in (NORMALIZED.encode(), CORRELATED.encode())
                and r.key == fp.encode()
            )
            >= 2
        )

    records = asyncio.run(read_all(stack.kafka, DEAD_LETTER, dead_letters, start=before))
    mine = [dict(r.headers) for r in records if r.key == fp.encode()]
    topics = {h["dlq.topic"] for h in mine}
    assert topics == {NORMALIZED.encode(), CORRELATED.encode()}
    for headers in mine:
        assert headers["dlq.reason"].startswith(b"undecodable")
        assert int(headers["dlq.offset"]) >= 0 and int(headers["dlq.partition"]) >= 0


def test_a_decodable_record_the_database_refuses_is_dead_lettered_alone_and_the_rest_applied(stack):
    """A well-formed message PostgreSQL cannot store (text with a NUL) fails its batch every time: the batch is
    split until that record is alone, which goes to the DLQ with the database's reason; its neighbours apply."""
    before = asyncio.run(end_offsets(stack.kafka, DEAD_LETTER))
    run = uuid.uuid4().hex[:8]
    key = f"poison-{run}"  # one key: one partition, poison between good records
    good = [alert(uuid.uuid4().hex, f"ev-{run}-{n}", f"around-poison-{run}-{n}") for n in range(2)]
    bad = alert(uuid.uuid4().hex, f"ev-{run}-bad", f"poison-{run}\x00")
    bad.labels["host"] = "a\x00b"
    send(stack, NORMALIZED, *((key, a.SerializeToString()) for a in (good[0], bad, good[1])))
    bad_ticket = correlated(uuid.uuid4().hex, f"poison-ticket-{run}\x00")
    good_ticket = correlated(uuid.uuid4().hex, f"after-poison-ticket-{run}")
    send(stack, CORRELATED, *((key, ca.SerializeToString()) for ca in (bad_ticket, good_ticket)))

    for title in (good[0].summary, good[1].summary, good_ticket.title):
        eventually(lambda title=title: find(stack, title))

    def both(records):
        return sum(1 for r in records if r.key == key.encode()) >= 2

    records = asyncio.run(read_all(stack.kafka, DEAD_LETTER, both, start=before))
    mine = {dict(r.headers)["dlq.topic"]: r for r in records if r.key == key.encode()}
    assert set(mine) == {NORMALIZED.encode(), CORRELATED.encode()}
    assert Alert.FromString(mine[NORMALIZED.encode()].value).event_id == bad.event_id
    assert CorrelatedAlert.FromString(mine[CORRELATED.encode()].value).event_id == bad_ticket.event_id
    for r in mine.values():
        assert dict(r.headers)["dlq.reason"].startswith(b"not applicable: ")
    # Nothing of the poison reached an incident, and both services are ready again.
    assert find(stack, bad.summary) is None and find(stack, bad_ticket.title) is None
    for service in ("correlator", "ticketing"):
        assert stack.client(service).get("/readyz").status_code == 200
