"""Configuration every service shares, read from the environment (see README for the full list)."""

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Comma-separated broker addresses.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = Field(None, repr=False)
    kafka_ssl_cafile: str | None = Field(None, description="CA bundle for TLS; the system CAs when unset.")
    kafka_ssl_certfile: str | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    kafka_ssl_keyfile: str | None = Field(None, description="Its private key (PEM), when not in the certfile.")
    kafka_partitions: int = Field(6, ge=1, description="Partitions per topic when triage creates topics.")
    kafka_replication_factor: int = Field(1, ge=1, description="Replicas per topic when triage creates topics.")
    order_grace_ms: int = Field(
        100,
        ge=0,
        le=5000,
        description="How long a time-ordered consumer (ingest's alerts.raw, the correlator) holds a record back"
        " while another partition, read to its end, has nothing: an earlier record may still be on its way to it.",
    )
    order_max_wait_ms: int = Field(
        1000,
        ge=0,
        le=60000,
        description="How long a time-ordered consumer waits for a partition not yet read to its end (a slow fetch,"
        " a leader moving) before the others go on without it.",
    )

    @model_validator(mode="after")
    def _sasl_is_complete(self) -> "KafkaSettings":
        if self.kafka_security_protocol.startswith("SASL_") and not self.kafka_sasl_mechanism:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs KAFKA_SASL_MECHANISM")
        if self.kafka_sasl_mechanism and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE")
        return self


class ServiceSettings(KafkaSettings):
    database_url: str | None = Field(None, repr=False, description="PostgreSQL URL (ingest needs none).")
    triage_tokens: str | None = Field(None, repr=False, description="name:secret:scope+scope entries, comma-separated.")
    triage_token_file: str | None = Field(None, description="File with one name:secret:scope+scope per line.")
    bind_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    log_level: str = "INFO"
    log_format: str = Field("json", description="json or text.")
    shutdown_grace_seconds: float = Field(10.0, gt=0)
