"""Running one service process: logging, uvicorn with the service's lifespan, graceful SIGTERM."""

import uvicorn
from fastapi import FastAPI

from .settings import ServiceSettings
from .telemetry import configure_logging


def serve(app: FastAPI, settings: ServiceSettings, port: int) -> None:
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        app,
        host=settings.bind_host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        server_header=False,
    )
