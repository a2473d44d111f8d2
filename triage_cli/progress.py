"""Upload progress on stderr. On a terminal a bar redrawn in place; otherwise (a log, a pipe) a plain line every
few seconds, so a short upload prints nothing. Two phases, both honest: bytes handed to the connection, then
the wait while the server validates and applies the whole request."""

import sys
import threading
import time
from typing import TextIO

MiB = 1024 * 1024
BAR_WIDTH = 30


def size(n: float) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB / 10 else f"{n / 1024:.1f} KiB"


def upload_line(sent: int, total: int, elapsed: float, bar: bool) -> str:
    share = sent / total if total else 1.0
    rate = f"{size(sent / elapsed)}/s" if elapsed > 0.2 else ""
    head = f"[{'#' * round(share * BAR_WIDTH):<{BAR_WIDTH}}] " if bar else "uploading "
    return f"{head}{share:4.0%}  {size(sent)} of {size(total)}  {rate}".rstrip()


def waiting_line(total: int, waited: float) -> str:
    return f"uploaded {size(total)}; the server is validating and applying it (all or nothing)... {waited:.0f} s"


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, mode: str = "auto", every: float = 5.0):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "plain"
        self.mode, self.total, self.every = mode, total, every
        self.sent, self.started, self.uploaded_at = 0, time.monotonic(), 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="progress")

    def __enter__(self) -> "Progress":
        if self.mode != "none":
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.mode == "bar":
            self.stream.write("\r\033[K")
            self.stream.flush()

    def advance(self, n: int) -> None:
        self.sent += n
        if self.sent >= self.total and not self.uploaded_at:
            self.uploaded_at = time.monotonic()

    def line(self) -> str:
        now = time.monotonic()
        if self.uploaded_at:
            return waiting_line(self.total, now - self.uploaded_at)
        return upload_line(self.sent, self.total, now - self.started, self.mode == "bar")

    def _run(self) -> None:
        interval = 0.2 if self.mode == "bar" else self.every
        while not self._stop.wait(interval):
            if self.mode == "bar":
                self.stream.write("\r\033[K" + self.line())
            else:
                self.stream.write(self.line() + "\n")
            self.stream.flush()
