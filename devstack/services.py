"""Starting the three services as child processes, as they run in production."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

import httpx

SERVICES = {"ingest": 8081, "correlator": 8082, "ticketing": 8083}
PORT_VARIABLE = {"ingest": "INGEST_PORT", "correlator": "CORRELATOR_PORT", "ticketing": "TICKETING_PORT"}
_COLOURS = {"ingest": "\033[36m", "correlator": "\033[35m", "ticketing": "\033[33m"}


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    prefix_output: IO[str] | None = None
    proc: subprocess.Popen | None = None
    _pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        env = {**os.environ, **self.env, PORT_VARIABLE[self.name]: str(self.port), "PYTHONUNBUFFERED": "1"}
        piped = self.prefix_output is not None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=env,
            stdout=subprocess.PIPE if piped else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if piped else None,
            text=True,
            start_new_session=True,
        )
        if piped:
            self._pump = threading.Thread(target=self._prefix_lines, daemon=True)
            self._pump.start()
        return self

    def _prefix_lines(self) -> None:
        assert self.proc and self.proc.stdout and self.prefix_output
        colour = _COLOURS.get(self.name, "") if getattr(self.prefix_output, "isatty", lambda: False)() else ""
        reset = "\033[0m" if colour else ""
        for line in self.proc.stdout:
            self.prefix_output.write(f"{colour}{self.name:>10} |{reset} {line}")
            self.prefix_output.flush()

    def wait_healthy(self, timeout: float = 60.0, path: str = "/healthz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not answering {path} with 200 after {timeout}s")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (the service finishes its batch and commits), then SIGKILL if it overstays."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._drain()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._drain()

    def _drain(self) -> None:
        # The last lines a process wrote are still being copied; the caller may close the log right after.
        if self._pump is not None:
            self._pump.join(timeout=5)


def start_all(
    env: Mapping[str, str], ports: Mapping[str, int] = SERVICES, prefix_output: IO[str] | None = None
) -> dict[str, ServiceProcess]:
    procs = {name: ServiceProcess(name, ports[name], dict(env), prefix_output).start() for name in SERVICES}
    return procs
