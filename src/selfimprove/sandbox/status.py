"""Turn what the parent observed into a status. The only place where 'passed' is decided.

'passed' needs all of: the trusted supervisor's report, the tester's exit code 0, and exactly one message
on the result channel (which only the tester holds), saying passed and carrying this run's nonce.
Printing "passed", exiting early with code 0, raising SystemExit, writing guesses into every file
descriptor, or forking so that two processes report all end as failed: none of them can produce that
message with the right nonce.
"""

from __future__ import annotations

import marshal
import signal
from dataclasses import dataclass
from typing import Any

from selfimprove.sandbox.config import Status


@dataclass(frozen=True)
class Observed:
    """What the parent saw: why it stopped reading (None: the run ended by itself), and the supervisor's
    marshalled report (None when there was none) with the supervisor process's own return code."""

    stopped: str | None
    report: bytes | None
    supervisor_returncode: int | None
    timeout: float
    cpu_limit: int


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _from_signal(number: int, cpu_limit: int) -> tuple[Status, str]:
    if number == signal.SIGXCPU:
        return "timeout", f"CPU-time limit of {cpu_limit} s exceeded (SIGXCPU)"
    if number == signal.SIGXFSZ:
        return "killed", "file-size limit exceeded (SIGXFSZ)"
    if number == signal.SIGKILL:
        return "killed", "killed by SIGKILL (CPU hard limit or out of memory)"
    return "killed", f"killed by {_signal_name(number)}"


def _from_result(message: bytes, nonce: str, exit_code: int | None) -> tuple[Status, str]:
    """The tester writes one line: b"passed\t<nonce>\t" or b"failed|error\t<phase>\t<escaped error>"."""
    lines = message.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if not lines:
        return "failed", f"the program exited (code {exit_code}) before the tests finished"
    if len(lines) > 1 or not message.endswith(b"\n"):
        return "failed", f"the result channel held {len(lines)} messages: tampering or a fork; not counted"
    fields = lines[0].split(b"\t")
    if len(fields) != 3:
        return "failed", "unreadable result message: tampering; not counted"
    status, second, error = fields
    if status == b"passed":
        if second != nonce.encode("ascii") or error:
            return "failed", "forged result message (wrong nonce)"
        if exit_code != 0:
            return "failed", f"the process exited with code {exit_code} after reporting"
        return "passed", ""
    if status in (b"failed", b"error"):
        text = error.decode("unicode_escape", "replace")
        return ("failed" if status == b"failed" else "error"), f"{second.decode('ascii', 'replace')}: {text}"
    return "failed", "unknown result status: tampering; not counted"


def decide(observed: Observed, nonce: str) -> tuple[Status, str, int | None]:
    """(status, detail, return code: the tester's exit code, or -signal of the tester or of a candidate
    that a limit killed)."""
    if observed.stopped == "timeout":
        return "timeout", f"wall-clock limit of {observed.timeout:g} s exceeded", None
    if observed.stopped == "output":
        return "killed", "output limit exceeded", None
    if observed.report is None:
        return "error", f"the sandbox supervisor ended without a report (code {observed.supervisor_returncode})", None
    try:
        report: dict[str, Any] = marshal.loads(observed.report)  # from the trusted supervisor only
    except (ValueError, EOFError, TypeError):
        return "error", "unreadable report from the sandbox supervisor", None
    if "setup_error" in report:
        return "error", f"sandbox setup failed: {report['setup_error']}", None
    if "signal" in report:
        status, detail = _from_signal(int(report["signal"]), observed.cpu_limit)
        return status, detail, -int(report["signal"])
    exit_code = report.get("exit_code")
    status, detail = _from_result(bytes(report.get("result", b"")), nonce, exit_code)
    return status, detail, exit_code
