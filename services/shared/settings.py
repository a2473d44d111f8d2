"""Configuration every service shares, read from the environment (see README for the full list)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Comma-separated broker addresses.")
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.")
    kafka_sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = Field(None, repr=False)
    kafka_ssl_cafile: str | None = None
    kafka_partitions: int = Field(6, ge=1, description="Partitions per topic when triage creates topics.")


class ServiceSettings(KafkaSettings):
    database_url: str | None = Field(None, repr=False, description="PostgreSQL URL (ingest needs none).")
    triage_tokens: str | None = Field(None, repr=False, description="name:secret:scope+scope entries, comma-separated.")
    triage_token_file: str | None = Field(None, description="File with one name:secret:scope+scope per line.")
    bind_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    log_level: str = "INFO"
    log_format: str = Field("json", description="json or text.")
    shutdown_grace_seconds: float = Field(10.0, gt=0)
