"""Traffic shapes, and the request times they make.

A shape is written as users say it:

    steady:50/s                                  a constant rate (/s, /min or /h)
    diurnal:peak=200/s,trough=5/s                a daily curve: trough at midnight, peak at noon
    burst:base=2/s,peak=300/s,every=1h,for=2m    a base rate with a peak of `for` at the start of every `every`
    FILE                                         one request time per line (seconds, or ISO 8601), or
                                                 `minute,count` lines (per-minute counts; a minute is seconds
                                                 or ISO 8601)

Requests arrive as a Poisson process at the shape's rate. A month is 730 hours (AWS's pricing examples). When a month
is over a million requests, it is played as windows that repeat it: a steady rate as up to an hour, a burst as one
of its periods, a daily curve as up to ten minutes of every other hour. Each window starts after a warm-up as long as
the idle time (shorter at high rates, a minute at least), which begins with the environments its traffic keeps
(measure.simulate), so the window begins with those the traffic before it would have left.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.lambda_facts import MONTH_S

BUDGET = 1_000_000  # requests: up to this many, the month is played whole; beyond, windows of about this many
_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0, "d": 86400.0}
DAY_S = 86400.0


class TrafficError(ProjectError):
    """A traffic shape that cannot be read."""


def _rate(text: str, where: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*/\s*([a-z]+)\s*", text)
    if not m or m[2] not in _UNITS:
        raise TrafficError(f"{where}: {text!r} is not a rate (for example 50/s, 300/min, 2000/h)")
    return float(m[1]) / _UNITS[m[2]]


def _span(text: str, where: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]+)\s*", text)
    if not m or m[2] not in _UNITS:
        raise TrafficError(f"{where}: {text!r} is not a time (for example 90s, 2m, 1h)")
    return float(m[1]) * _UNITS[m[2]]


@dataclass(frozen=True)
class Window:
    """A stretch of the shape that is played: `warmup` seconds before `start`, then `length` seconds that count, each
    standing for `weight` such stretches of the month."""

    start: float
    length: float
    weight: float
    warmup: float = 0.0


@dataclass(frozen=True)
class Traffic:
    """A shape: its rate at any time (requests/s), or the request times of a file."""

    spec: str
    kind: str  # steady | diurnal | burst | file
    params: dict
    times: np.ndarray | None = None  # a file's request times, seconds from its first
    span_s: float = MONTH_S  # what a month of it is: 730 h, or the file's span

    def rate(self, t: np.ndarray) -> np.ndarray:
        p = self.params
        if self.kind == "steady":
            return np.full_like(t, p["rate"], dtype=float)
        if self.kind == "diurnal":
            phase = (1 - np.cos(2 * np.pi * (t % DAY_S) / DAY_S)) / 2  # 0 at midnight, 1 at noon
            return p["trough"] + (p["peak"] - p["trough"]) * phase
        if self.kind == "burst":
            return np.where((t % p["every"]) < p["for"], p["peak"], p["base"])
        raise TrafficError(f"{self.spec}: a file's traffic has no rate, only its request times")

    def mean_rate(self) -> float:
        if self.kind == "file":
            return len(self.times) / self.span_s
        grid = np.arange(0, self._period(), 1.0)
        return float(self.rate(grid).mean())

    def _period(self) -> float:
        return {"steady": 3600.0, "diurnal": DAY_S, "burst": self.params.get("every", 3600.0)}.get(self.kind, MONTH_S)

    def requests_per_month(self) -> float:
        return self.mean_rate() * MONTH_S  # a file's mean rate is its requests over its span

    def scaled(self, factor: float) -> Traffic:
        """The same shape at `factor` times its rates (a file's traffic cannot be scaled)."""
        if self.kind == "file":
            raise TrafficError("a file's traffic is played as recorded; it is not scaled")
        params = {k: (v if k in ("every", "for") else v * factor) for k, v in self.params.items()}
        return Traffic(f"{self.spec} x{factor:g}", self.kind, params)

    def windows(self, idle_s: float, budget: float = BUDGET) -> list[Window]:
        """What is played to stand for the month (see the module's docstring): about `budget` requests at most,
        besides the warm-ups (a burst's period is always played whole)."""
        if self.kind == "file":
            return [Window(0.0, self.span_s, MONTH_S / self.span_s)]
        mean = max(self.mean_rate(), 1e-12)
        if mean * MONTH_S <= budget:
            return [Window(0.0, MONTH_S, 1.0)]
        # The warm-up leaves the environments the idle time before a window would have left: at high rates the
        # most requests in flight at once over a minute is that of the whole idle time, so it is shortened there.
        peak = float(self.rate(np.arange(0.0, self._period(), 1.0)).max())
        if self.kind == "diurnal":
            hours = range(0, 24, 2)
            length = float(np.clip(budget / (len(hours) * mean), 60.0, 600.0))
            warmup = min(idle_s, max(60.0, 0.25 * budget / (len(hours) * peak)))
            return [Window(h * 3600.0, length, MONTH_S / (len(hours) * length), warmup) for h in hours]
        warmup = min(idle_s, max(60.0, 0.25 * budget / peak))
        if self.kind == "burst":
            period = self._period()
            return [Window(period * math.ceil(warmup / period), period, MONTH_S / period, warmup)]
        length = float(np.clip(budget / mean, 300.0, 3600.0))
        return [Window(warmup, length, MONTH_S / length, warmup)]

    def arrivals(self, rng: np.random.Generator, start: float, end: float) -> np.ndarray:
        """Request times in [start, end), sorted: a Poisson process at the rate, second by second."""
        if self.kind == "file":
            t = self.times
            return t[(t >= start) & (t < end)]
        seconds = np.arange(math.floor(start), math.ceil(end), 1.0)
        counts = rng.poisson(self.rate(seconds + 0.5))
        t = np.repeat(seconds, counts) + rng.random(int(counts.sum()))
        t = t[(t >= start) & (t < end)]
        t.sort()
        return t


def parse(spec: str) -> Traffic:
    """A shape from its text, or from the file it names."""
    kind, _, rest = spec.partition(":")
    if kind in ("steady", "diurnal", "burst") and rest:
        fields = {}
        if kind == "steady":
            fields["rate"] = _rate(rest, spec)
        else:
            for part in rest.split(","):
                key, eq, value = part.partition("=")
                if not eq:
                    raise TrafficError(f"{spec}: {part!r} is not key=value")
                fields[key.strip()] = value
            wanted = {"diurnal": {"peak", "trough"}, "burst": {"base", "peak", "every", "for"}}[kind]
            if set(fields) != wanted:
                raise TrafficError(f"{spec}: a {kind} shape takes exactly {', '.join(sorted(wanted))}")
            fields = {k: (_span(v, spec) if k in ("every", "for") else _rate(v, spec)) for k, v in fields.items()}
            if kind == "burst" and not 0 < fields["for"] <= fields["every"]:
                raise TrafficError(f"{spec}: `for` must be positive and at most `every`")
        if any(v < 0 for v in fields.values()):
            raise TrafficError(f"{spec}: rates and times are not negative")
        return Traffic(spec, kind, fields)
    path = Path(spec)
    if path.is_file():
        return from_file(path)
    raise TrafficError(f"{spec!r}: not a shape (steady:50/s, diurnal:peak=200/s,trough=5/s, "
                       "burst:base=2/s,peak=300/s,every=1h,for=2m) nor a file")


def _when(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise TrafficError(f"{where}: {text!r} is neither seconds nor an ISO 8601 time") from None


def from_file(path: Path, rng: np.random.Generator | None = None) -> Traffic:
    """Request times (one per line) or per-minute counts (`minute,count`); blank lines and `#` comments skipped."""
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append((number, [c.strip() for c in line.split(",")]))
    if not rows:
        raise TrafficError(f"{path}: no requests in it")
    widths = {len(cells) for _, cells in rows}
    if widths == {1}:
        times = np.array([_when(c[0], f"{path}:{n}") for n, c in rows])
        span = None
    elif widths == {2}:
        rng = rng or np.random.default_rng(0)
        minutes, counts = [], []
        for n, (minute, count) in rows:
            if not count.isdigit():
                raise TrafficError(f"{path}:{n}: {count!r} is not a count of requests")
            minutes.append(_when(minute, f"{path}:{n}"))
            counts.append(int(count))
        minutes_a, counts_a = np.array(minutes), np.array(counts)
        times = np.repeat(minutes_a, counts_a) + 60.0 * rng.random(int(counts_a.sum()))
        span = float(minutes_a.max() - minutes_a.min() + 60.0)
    else:
        raise TrafficError(f"{path}: every line is one request time, or every line is `minute,count`")
    if len(times) == 0:
        raise TrafficError(f"{path}: no requests in it")
    times = np.sort(times - times.min())
    span = span or max(float(times[-1]), 1.0)
    return Traffic(str(path), "file", {}, times=times, span_s=span)
