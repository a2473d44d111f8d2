"""Ticketing configuration (environment variables; see README). Policies are parsed once at start-up, so a
mistake stops the service with a message that names it."""

from datetime import timedelta

from pydantic import Field

from services.shared.settings import ServiceSettings

from . import policies
from .clocks import SlaRules
from .incident import IncidentPolicy
from .priority import PriorityMatrix
from .webhook_settings import WebhookSettings


class TicketingSettings(WebhookSettings, ServiceSettings):
    ticketing_port: int = 8083
    ticketing_max_body_bytes: int = Field(1024 * 1024, gt=0, description="Larger request bodies get 413.")
    ticketing_priority_matrix: str = Field(
        "1x1=1,1x2=2,1x3=3,2x1=2,2x2=3,2x3=4,3x1=3,3x2=4,3x3=5", description="ITIL impact x urgency -> priority."
    )
    ticketing_sla_targets: str = Field(
        "1=15m/4h,2=30m/8h,3=4h/24h,4=8h/3d,5=1d/5d", description="Response/resolution per priority [@calendar]."
    )
    ticketing_calendars: str = Field("{}", description="Business calendars, JSON (see policies.py).")
    ticketing_sla_warnings: str = Field("0.75,0.9", description="Shares of a target that raise a warning.")
    ticketing_escalation: str = Field(
        '{"default_group": "service-desk", "escalation_groups": {}}',
        description="Who hears of breaches: each assignment group's escalation group, else the default group.",
    )
    ticketing_reopen_window: float = Field(3600, gt=0, description="Seconds a resolved incident can reopen.")
    ticketing_auto_resolve: str = Field("1,2,3,4,5", description="Priorities the pipeline resolves by itself.")
    ticketing_auto_close_after: float = Field(259200, gt=0, description="Seconds before a resolved incident closes.")
    ticketing_sla_interval: float = Field(5.0, gt=0, description="Seconds between SLA timer passes.")
    ticketing_metrics_interval: float = Field(5.0, gt=0, description="Seconds between SLA figure refreshes.")

    def sla_rules(self) -> SlaRules:
        named = policies.calendars(self.ticketing_calendars)
        return SlaRules(
            policies=policies.sla_policies(self.ticketing_sla_targets, named),
            thresholds=policies.thresholds(self.ticketing_sla_warnings),
            escalation=policies.escalation(self.ticketing_escalation),
        )

    def incident_policy(self) -> IncidentPolicy:
        return IncidentPolicy(
            matrix=PriorityMatrix.parse(self.ticketing_priority_matrix),
            reopen_window=timedelta(seconds=self.ticketing_reopen_window),
            auto_resolve=policies.priorities(self.ticketing_auto_resolve),
        )
