"""Webhook delivery settings, a mixin for TicketingSettings (`class TicketingSettings(WebhookSettings,
ServiceSettings)`); every field is read from the environment variable of the same name in capitals."""

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Whole-request timeout of one delivery attempt.")
    webhook_retry_base_seconds: float = Field(2.0, gt=0, description="Delay after the first failed attempt.")
    webhook_retry_cap_seconds: float = Field(1800.0, gt=0, description="Longest delay between two attempts.")
    webhook_retry_jitter: float = Field(
        0.2, ge=0, lt=1, description="Each delay is shortened by a random part of up to this fraction."
    )
    webhook_max_attempts: int = Field(16, ge=1, description="Attempts before a delivery is dead-lettered.")
    webhook_concurrency: int = Field(16, ge=1, description="Subscriptions served at once by one process.")
    webhook_batch: int = Field(50, ge=1, description="Deliveries of one subscription claimed at a time.")
    webhook_lease_seconds: float = Field(
        60.0, gt=0, description="A claimed delivery falls due again after this long (a crashed worker's claim)."
    )
    webhook_poll_seconds: float = Field(1.0, gt=0, description="Idle poll for due deliveries (retries, others').")
    webhook_metrics_seconds: float = Field(5.0, gt=0, description="Refresh of the delivery metrics from the database.")
    webhook_keep_delivered_hours: float = Field(168.0, gt=0, description="Delivered rows are pruned after this.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.webhook_retry_cap_seconds < self.webhook_retry_base_seconds:
            raise ValueError("WEBHOOK_RETRY_CAP_SECONDS must be at least WEBHOOK_RETRY_BASE_SECONDS")
        # The lease must outlast an attempt, or a slow but live attempt would be claimed and sent twice.
        if self.webhook_lease_seconds <= 1.5 * self.webhook_timeout_seconds:
            raise ValueError("WEBHOOK_LEASE_SECONDS must exceed 1.5 x WEBHOOK_TIMEOUT_SECONDS")
        return self
