"""Upload progress: the bar's text, and what each mode writes to a stream that is not a terminal."""

import io
import time

from triage_cli import progress


def eventually(check, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "progress thread wrote nothing in time"
        time.sleep(0.01)


def test_upload_and_waiting_lines():
    mib = progress.MiB
    assert progress.upload_line(5 * mib, 20 * mib, 2.0, bar=True) == (
        "[########                      ]  25%  5.0 MiB of 20.0 MiB  2.5 MiB/s"
    )
    assert progress.upload_line(0, 4096, 0.0, bar=False) == "uploading   0%  0.0 KiB of 4.0 KiB"
    assert progress.upload_line(0, 0, 0.0, bar=False).startswith("uploading 100%")
    assert progress.waiting_line(20 * mib, 7.4) == (
        "uploaded 20.0 MiB; the server is validating and applying it (all or nothing)... 7 s"
    )


def test_the_phase_changes_once_every_byte_is_sent():
    p = progress.Progress(100, stream=io.StringIO(), mode="none")
    p.advance(40)
    assert p.line().startswith("uploading  40%")
    p.advance(60)
    assert p.line().startswith("uploaded 0.1 KiB; the server is validating")


def test_plain_mode_writes_whole_lines_and_none_writes_nothing():
    out = io.StringIO()
    with progress.Progress(100, stream=out, mode="auto", every=0.01) as p:
        assert p.mode == "plain"  # a StringIO is not a terminal
        p.advance(40)
        eventually(lambda: "\n" in out.getvalue())
    assert out.getvalue().startswith("uploading  40%") and "\r" not in out.getvalue()
    silent = io.StringIO()
    with progress.Progress(100, stream=silent, mode="none", every=0.01) as p:
        p.advance(100)
        time.sleep(0.05)
    assert silent.getvalue() == ""


def test_bar_mode_redraws_in_place_and_clears_its_line():
    out = io.StringIO()
    with progress.Progress(10, stream=out, mode="bar") as p:
        p.advance(5)
        eventually(lambda: "%" in out.getvalue())
    text = out.getvalue()
    assert text.startswith("\r\033[K[#") and "\n" not in text and text.endswith("\r\033[K")
