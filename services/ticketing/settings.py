from services.shared.settings import ServiceSettings


class TicketingSettings(ServiceSettings):
    ticketing_port: int = 8083
