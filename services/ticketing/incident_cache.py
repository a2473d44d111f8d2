"""The incidents the pipeline last wrote or read, each with the row revision it is true at.

A batch must apply its alerts to each group's latest incident with all of its alerts (priority, description
and flapping follow from them), and a big incident is hundreds of rows. The pipeline owns its group keys
(partitioned by key), so what it wrote last is almost always still current: the batch locks and reads only
each incident's revision, and reads the whole incident again only when someone else (the API, the SLA timer,
another instance after a rebalance) wrote it since. No I/O here.
"""

from collections import OrderedDict

from .incident import Incident

DEFAULT_LIMIT = 20_000  # incidents; the least recently used go first


class IncidentCache:
    def __init__(self, limit: int = DEFAULT_LIMIT):
        self._limit = limit
        self._held: OrderedDict[str, tuple[int, Incident]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, incident_id: str, revision: int) -> Incident | None:
        """The incident as held, if it is at `revision`; a stale copy is dropped."""
        held = self._held.get(incident_id)
        if held is None:
            return None
        if held[0] != revision:
            del self._held[incident_id]
            return None
        self._held.move_to_end(incident_id)
        return held[1]

    def put(self, incident: Incident, revision: int) -> None:
        """Hold `incident` as true at `revision` (it must carry its number: it is what the table holds)."""
        self._held[incident.id] = (revision, incident)
        self._held.move_to_end(incident.id)
        while len(self._held) > self._limit:
            self._held.popitem(last=False)
