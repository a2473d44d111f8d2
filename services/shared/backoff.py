"""Dependencies come and go; a service waits for them with capped exponential backoff instead of dying."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def retry_forever(attempt: Callable[[], Awaitable[T]], what: str, first: float = 0.2, cap: float = 5.0) -> T:
    delay = first
    while True:
        try:
            return await attempt()
        except Exception as exc:
            log.warning("%s failed, retry in %.1fs: %r", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)
