"""Running one service process: logging, the garbage collector's pace, uvicorn with the service's lifespan,
graceful SIGTERM."""

import gc

import uvicorn
from fastapi import FastAPI

from .settings import ServiceSettings
from .telemetry import configure_logging

# The collector's thresholds (first generation: allocations of container objects beyond deallocations; then how
# many collections of each generation before the next older one). With Python's (700, 10, 10) a 200,000-alert
# storm ran ~6,000 collections in the correlator (the ~50 full ones each walked everything it holds, ~130 ms):
# 27-28 % of its CPU, and 11-15 % of ingest's and ticketing's. Nearly everything a batch or a request allocates is freed
# by reference counting once it is done with (the collector is only for reference cycles), so collecting less
# often costs a little memory (docs/performance.md: +2 to +28 MB peak RSS at the footprint point) for ~25 % less
# CPU per alert.
GC_THRESHOLDS = (50_000, 20, 10)


def pace_collector() -> None:
    """What is loaded by now (modules, the app) lives as long as the process: it is moved out of the collector's
    way, so a full collection walks only what the service built since."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(app: FastAPI, settings: ServiceSettings, port: int) -> None:
    configure_logging(settings.log_level, settings.log_format)
    pace_collector()
    uvicorn.run(
        app,
        host=settings.bind_host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        server_header=False,
    )
