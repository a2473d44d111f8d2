import json
from datetime import timedelta

from pydantic import Field

from services.shared.settings import ServiceSettings

from .binding import MatchRules
from .correlation import ExpiryPolicy
from .flapping import FlapPolicy
from .grouping import DEFAULT_GROUP_BY, GroupingPolicy


class CorrelatorSettings(ServiceSettings):
    correlator_port: int = 8082
    correlator_consumer_group: str = Field(
        "triage-correlator", description="Kafka consumer group; a new group with an empty schema replays the topic."
    )
    correlator_binding_rules: str = Field(
        "{}", description="JSON for binding.MatchRules.parse: name_labels, port_labels, attribute_rules, regex_rules."
    )
    correlator_group_window_seconds: float = Field(
        300, gt=0, description="A group instance lives while alerts keep arriving less than this apart."
    )
    correlator_group_by: str = Field(",".join(DEFAULT_GROUP_BY), description="Labels grouping alerts bound to no CI.")
    correlator_expiry_seconds: str = Field(
        "default=14400", description="Per-source timeout of a firing alert not seen again: source=seconds,..."
    )
    correlator_reopen_window_seconds: float = Field(
        600, ge=0, description="A resolved alert firing again within this keeps its first-seen time and count."
    )
    correlator_flap_max_changes: int = Field(
        4, ge=1, description="More status changes than this in the window: flapping."
    )
    correlator_flap_window_seconds: float = Field(600, gt=0)
    correlator_flap_quiet_seconds: float = Field(600, gt=0, description="No change for this long ends flapping.")
    correlator_repeat_interval_seconds: float = Field(
        30,
        ge=0,
        description="A repeat (an alert firing again, nothing new but its count) is told downstream at most this"
        " often per alert; an incident's count stays exact at every change, and an alert's own count lags at most"
        " this plus the sweep. 0: every repeat is told (coalesced per consumed batch).",
    )
    correlator_sweep_seconds: float = Field(
        5, gt=0, description="Cadence of the expiry, held-repeat and heartbeat check."
    )
    correlator_reference_poll_seconds: float = Field(
        10, gt=0, description="Fallback check of cmdb_version when a NOTIFY was missed."
    )
    correlator_max_import_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Body limit of the bulk admin API.")

    def match_rules(self) -> MatchRules:
        return MatchRules.parse(json.loads(self.correlator_binding_rules or "{}"))

    def grouping(self) -> GroupingPolicy:
        labels = tuple(x.strip() for x in self.correlator_group_by.split(",") if x.strip())
        return GroupingPolicy(timedelta(seconds=self.correlator_group_window_seconds), labels)

    def flap_policy(self) -> FlapPolicy:
        return FlapPolicy(
            self.correlator_flap_max_changes,
            timedelta(seconds=self.correlator_flap_window_seconds),
            timedelta(seconds=self.correlator_flap_quiet_seconds),
        )

    def repeat_interval(self) -> timedelta:
        return timedelta(seconds=self.correlator_repeat_interval_seconds)

    def reopen_window(self) -> timedelta:
        return timedelta(seconds=self.correlator_reopen_window_seconds)

    def expiry(self) -> ExpiryPolicy:
        return ExpiryPolicy.parse(self.correlator_expiry_seconds)
