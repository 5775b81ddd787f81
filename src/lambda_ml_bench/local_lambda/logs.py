"""Lambda's log lines: START, END and REPORT, written by the local Lambda and read back by the benchmark driver.

The billed duration is Lambda's rule, so it lives here, beside the line that states it: the handler
duration plus (since 1 August 2025, for zip functions on managed runtimes) the INIT phase, rounded up
to the next millisecond.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

_REPORT = re.compile(r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+"
                     r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<memory>\d+) MB\s+"
                     r"Max Memory Used: (?P<used>\d+) MB(\s+Init Duration: (?P<init>[\d.]+) ms)?"
                     r"(\s+Restore Duration: (?P<restore>[\d.]+) ms)?")


class ReportLineError(ValueError):
    """A log without a REPORT line."""


def billed_ms(duration_ms: float, init_ms: float | None = None) -> int:
    """Lambda rounds the (INIT plus) handler duration up to the next millisecond."""
    return math.ceil(duration_ms + (init_ms or 0.0))


@dataclass(frozen=True)
class Report:
    """The figures of one REPORT line."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int
    init_ms: float | None = None
    restore_ms: float | None = None

    def line(self) -> str:
        """The line as Lambda writes it (tab-separated, a trailing tab)."""
        return (f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
                f"Billed Duration: {self.billed_ms} ms\tMemory Size: {self.memory_mb} MB\t"
                f"Max Memory Used: {self.max_memory_used_mb} MB\t"
                + (f"Init Duration: {self.init_ms:.2f} ms\t" if self.init_ms is not None else ""))

    def as_dict(self) -> dict:
        return {"request_id": self.request_id, "duration_ms": self.duration_ms, "billed_ms": self.billed_ms,
                "memory_mb": self.memory_mb, "max_memory_used_mb": self.max_memory_used_mb,
                "init_ms": self.init_ms, "restore_ms": self.restore_ms}


def report(request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int,
           init_ms: float | None = None) -> Report:
    return Report(request_id, duration_ms, billed_ms(duration_ms, init_ms), memory_mb, max_memory_used_mb, init_ms)


def parse_report(log: str) -> Report:
    """The last REPORT line of a log (a LogType=Tail log ends with it)."""
    matches = list(_REPORT.finditer(log))
    if not matches:
        raise ReportLineError(f"no REPORT line in the log tail: {log[-300:]!r}")
    m = matches[-1]
    return Report(m["id"], float(m["duration"]), int(m["billed"]), int(m["memory"]), int(m["used"]),
                  float(m["init"]) if m["init"] else None, float(m["restore"]) if m["restore"] else None)
