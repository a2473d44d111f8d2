from pydantic import Field

from services.shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    ingest_port: int = 8081
    ingest_max_body_bytes: int = Field(1024 * 1024, gt=0, description="Larger request bodies get 413.")
    ingest_publish_timeout: float = Field(5.0, gt=0, description="Seconds to wait for broker acks before 503.")
    ingest_retry_after: int = Field(5, ge=1, description="Retry-After seconds sent with a 503.")
    ingest_identifying_labels: str = Field(
        "",
        description="Per source, the labels that identify an alert when the sender gives no key: "
        "'grafana=alertname+instance;native=alertname+host'. Unset source: all labels.",
    )

    def identifying_labels(self) -> dict[str, frozenset[str]]:
        result: dict[str, frozenset[str]] = {}
        for entry in filter(None, (e.strip() for e in self.ingest_identifying_labels.split(";"))):
            source, _, labels = entry.partition("=")
            result[source.strip()] = frozenset(x.strip() for x in labels.replace(",", "+").split("+") if x.strip())
        return result
