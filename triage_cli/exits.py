"""Exit codes that scripts can rely on, and the failure that carries one to `main`."""

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    REFUSED = 1  # the server refused the request (4xx), or the input breaks a rule of the API before sending
    USAGE = 2  # bad arguments or configuration (argparse exits with 2 too)
    UNAVAILABLE = 3  # service or broker unreachable, a 5xx, a timeout
    NOT_FOUND = 4  # 404: no such incident (or wrong URL)
    CONFLICT = 5  # 409: not allowed from the incident's status; 412: --if-version is stale


EXIT_CODES_HELP = """exit codes:
  0  success
  1  refused: the server answered 4xx (its message and fields are printed), or the input
     breaks an API rule before sending (e.g. over 100,000 CIs)
  2  usage: bad arguments, configuration or input file, no token
  3  unavailable: cannot reach the service or broker, a 5xx answer, a timeout,
     or the test alert's incident did not appear in time
  4  not found: 404 (no such incident)
  5  conflict: 409 (not allowed from the incident's status) or 412 (--if-version stale)"""


def for_status(status: int) -> Exit:
    """The exit code for an HTTP status."""
    if status < 400:
        return Exit.OK
    if status == 404:
        return Exit.NOT_FOUND
    if status in (409, 412):
        return Exit.CONFLICT
    if status < 500:
        return Exit.REFUSED
    return Exit.UNAVAILABLE


class Failure(Exception):
    """Ends the command: `message` and `details` go to stderr, `code` is the exit status."""

    def __init__(self, code: Exit, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, list(details or [])
