from services.shared.settings import ServiceSettings


class CorrelatorSettings(ServiceSettings):
    correlator_port: int = 8082
