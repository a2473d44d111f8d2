"""`triage cmdb import` and `triage known-errors import`: one file, one request, all or nothing.

A CMDB file is sent whole, never in parts: the correlator validates a request as one graph (a relationship may
point at a CI further down the same file) and applies it in one transaction, so a bad row leaves the CMDB as it
was. 100,000 CIs (the API's limit per call) is a few MiB and a few seconds, so one request loses nothing."""

import sys
import time
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import httpx

from services.correlator.cmdb_import import MAX_CIS

from . import import_file, render
from .client import Refused, Service
from .exits import Exit, Failure
from .progress import Progress

CHUNK = 64 * 1024
APPLY_SECONDS = 600  # the longest wait for the answer once the body is sent (validation and the transaction)


def _chunks(body: bytes, progress: Progress) -> Iterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(view), CHUNK):
        piece = bytes(view[start : start + CHUNK])
        yield piece
        progress.advance(len(piece))


def upload(api: Service, url: str, file: import_file.ImportFile, args: Namespace, noun: str) -> dict:
    """PUT the file's bytes as they are, streamed with a known length; a refusal is shown by row and line."""
    mode = "none" if args.quiet else args.progress
    timeout = httpx.Timeout(args.timeout, read=max(args.timeout, APPLY_SECONDS))
    headers = {"Content-Type": file.content_type, "Content-Length": str(len(file.body))}
    try:
        with Progress(len(file.body), mode=mode) as progress:
            return api.call("PUT", url, content=_chunks(file.body, progress), headers=headers, timeout=timeout)
    except Refused as refusal:
        refusal.details = import_file.located(file, refusal.fields, noun)
        raise


def cmdb_import(args: Namespace, api: Service) -> Exit:
    file = import_file.read(Path(args.file), args.format)
    if file.records > MAX_CIS:
        raise Failure(
            Exit.REFUSED,
            f"{file.path} holds {file.records:,} CIs; the API takes at most {MAX_CIS:,} per call, all or nothing",
            [
                "  split it so that every relationship's target is in the same part or already in the CMDB,",
                "  and import the parts holding the targets first",
            ],
        )
    if not args.quiet:
        print(f"importing {file.records:,} CIs from {file.path} ({file.format}) to {api.base_url}", file=sys.stderr)
    started = time.monotonic()
    result = upload(api, "/v1/cis", file, args, "row" if file.format == "csv" else "item")
    seconds = time.monotonic() - started
    if args.json:
        print(render.as_json({**result, "seconds": round(seconds, 3)}))
    else:
        print(
            f"applied {result['upserted']:,} CIs and {result['relationships']:,} relationships"
            f" in {seconds:.1f} s (CMDB version {result['version']})"
        )
    return Exit.OK


def known_errors_import(args: Namespace, api: Service) -> Exit:
    file = import_file.read(Path(args.file), "json")
    started = time.monotonic()
    result = upload(api, "/v1/known-errors", file, args, "item")
    seconds = time.monotonic() - started
    if args.json:
        print(render.as_json({**result, "seconds": round(seconds, 3)}))
    else:
        applied, version = result["applied"], result["version"]
        print(f"applied {applied:,} known errors in {seconds:.1f} s (reference data version {version})")
    return Exit.OK
