from services.shared.runner import serve

from .app import create_app
from .settings import TicketingSettings

settings = TicketingSettings()
serve(create_app(settings), settings, settings.ticketing_port)
