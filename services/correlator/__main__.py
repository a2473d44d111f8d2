from services.shared.runner import serve

from .app import create_app
from .settings import CorrelatorSettings

settings = CorrelatorSettings()
serve(create_app(settings), settings, settings.correlator_port)
