"""A short traffic shape sent to the local Lambda, set beside what the simulation predicts for the very same request
times: cold starts, p50 and p95 latency. It is how the planner's model of Lambda is checked against a running one.

Bounded on purpose: loopback endpoints only, at most `max_requests` requests and `duration_s` seconds. Latency is the
function's own, as its REPORT line gives it (handler duration, plus INIT when cold), the same figure the simulation
draws; the client's wall time is recorded beside it. The idle time is the local Lambda's own (its Tags say it).
"""
from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from lambda_ml_bench import lambda_facts as facts
from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.files import atomic_write
from lambda_ml_bench.local_lambda.functions import TAG_IDLE
from lambda_ml_bench.measure import markdown, plan, simulate
from lambda_ml_bench.measure.traffic import Traffic

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_REQUESTS = 5000
MAX_DURATION_S = 1800
WORKERS = 64


class ReplayError(ProjectError):
    """A replay that would not be bounded, or has nothing to compare with."""


def loopback(endpoint: str) -> str:
    host = urlparse(endpoint).hostname
    if host not in LOOPBACK:
        raise ReplayError(f"{endpoint}: a replay is sent to the local Lambda on this machine only (127.0.0.1)")
    return endpoint


def schedule(shape: Traffic, duration_s: float, max_requests: int = MAX_REQUESTS, seed: int = 0) -> np.ndarray:
    """The request times of the shape's first `duration_s` seconds (a file: its own times within them)."""
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ReplayError(f"--duration must be from 1 s to {MAX_DURATION_S:,} s")
    t = shape.arrivals(np.random.default_rng(seed), 0.0, duration_s)
    if len(t) > max_requests:
        raise ReplayError(f"{shape.spec} over {duration_s:g} s is {len(t):,} requests, more than --max-requests "
                          f"{max_requests:,}: shorten it or lower the rate")
    if len(t) == 0:
        raise ReplayError(f"{shape.spec} sends no request in {duration_s:g} s")
    return t


@dataclass
class Sent:
    at: float  # scheduled, seconds from the start
    late_ms: float = 0.0  # how much after its time it left (the client's own delay)
    wall_ms: float | None = None
    duration_ms: float | None = None
    init_ms: float | None = None
    cold: bool = False
    error: str | None = None

    @property
    def latency_ms(self) -> float | None:
        return None if self.duration_ms is None else self.duration_ms + (self.init_ms or 0.0)


def send(client, name: str, qualifier: str, payload: bytes, times: np.ndarray, progress=lambda done: None
         ) -> list[Sent]:
    """Every request at its time, from a pool of threads; none is retried (a throttle is what happened)."""
    results = [Sent(float(t)) for t in times]
    done = [0]
    lock = threading.Lock()
    start = time.monotonic() + 0.5

    def one(i: int) -> None:
        r = results[i]
        wait = start + r.at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        r.late_ms = max(0.0, (time.monotonic() - start - r.at) * 1000)
        began = time.monotonic()
        try:
            response = client.invoke(FunctionName=name, Qualifier=qualifier, Payload=payload, LogType="Tail")
            response["Payload"].read()
            r.wall_ms = (time.monotonic() - began) * 1000
            log = base64.b64decode(response.get("LogResult", "")).decode("utf-8", "replace")
            report = facts.parse_report(log)
            r.duration_ms, r.init_ms = report.duration_ms, report.init_ms
            r.cold = report.init_ms is not None
            if response.get("FunctionError"):
                r.error = response["FunctionError"]
        except Exception as err:  # a throttle or a failure is a result of the replay, not its end
            r.error = getattr(err, "response", {}).get("Error", {}).get("Code") or type(err).__name__
        with lock:
            done[0] += 1
            progress(done[0])

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(results))) as pool:
        list(pool.map(one, range(len(results))))
    return results


def predict(times: np.ndarray, m: plan.Measured, idle_s: float, runs: int = 25) -> dict:
    """What the simulation says the same request times meet: its mean over `runs` draws of the measured durations."""
    colds, p50s, p95s = [], [], []
    for seed in range(runs):
        out = simulate.lambda_pool(times, 0, m.warm_ms, m.cold_ms, m.cold_billed_ms, np.random.default_rng(seed),
                                   idle_s, limit=10**9)
        colds.append(out.cold)
        p50, p95 = simulate.percentiles(out, (50, 95))
        p50s.append(p50)
        p95s.append(p95)
    return {"cold_starts": float(np.mean(colds)), "cold_range": [int(min(colds)), int(max(colds))],
            "p50_ms": float(np.median(p50s)), "p95_ms": float(np.median(p95s))}


def observed(sent: list[Sent]) -> dict:
    ok = [s for s in sent if s.error is None and s.latency_ms is not None]
    lat = np.array([s.latency_ms for s in ok]) if ok else np.array([np.nan])
    wall = np.array([s.wall_ms for s in ok]) if ok else np.array([np.nan])
    return {"requests": len(sent), "served": len(ok), "errors": len(sent) - len(ok),
            "cold_starts": sum(s.cold for s in ok), "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)), "wall_p50_ms": float(np.percentile(wall, 50)),
            "wall_p95_ms": float(np.percentile(wall, 95)),
            "late_p95_ms": float(np.percentile([s.late_ms for s in sent], 95))}


def agreement(seen: dict, predicted: dict) -> dict:
    """Side by side, against the targets: cold starts within 10% (or 1), p50 and p95 within 20%."""
    cold_ok = abs(seen["cold_starts"] - predicted["cold_starts"]) <= max(1.0, 0.1 * predicted["cold_starts"])
    return {"cold_starts": cold_ok,
            "p50_ms": abs(seen["p50_ms"] - predicted["p50_ms"]) <= 0.2 * predicted["p50_ms"],
            "p95_ms": abs(seen["p95_ms"] - predicted["p95_ms"]) <= 0.2 * predicted["p95_ms"]}


def idle_of(client, name: str, fallback: float) -> float:
    """The local Lambda's idle time, from the function's Tags (else `fallback`)."""
    tags = client.get_function(FunctionName=name).get("Tags") or {}
    return float(tags[TAG_IDLE]) if TAG_IDLE in tags else fallback


def report(doc: dict) -> str:
    seen, predicted, ok = doc["observed"], doc["predicted"], doc["agreement"]
    rows = [["cold starts", f"{seen['cold_starts']}", f"{predicted['cold_starts']:.1f} "
             f"({predicted['cold_range'][0]}-{predicted['cold_range'][1]})", "±10% or ±1",
             "yes" if ok["cold_starts"] else "**no**"],
            *([f"{q} ms", f"{seen[f'{q}_ms']:,.1f}", f"{predicted[f'{q}_ms']:,.1f}", "±20%",
               "yes" if ok[f"{q}_ms"] else "**no**"] for q in ("p50", "p95"))]
    return "\n".join([
        f"# Replay of {doc['traffic']} against {doc['function']}", "",
        f"{seen['requests']:,} requests over {doc['duration_s']:g} s ({seen['errors']} failed or throttled), idle "
        f"environments reclaimed after {doc['idle_s']:g} s; the simulation ran the same request times with the "
        f"durations measured in {doc['measured_from']} ({doc['measured']}).", "",
        markdown.table(["", "replayed", "simulated (range over draws)", "target", "holds"], rows, right={1, 2}), "",
        f"Client wall time: p50 {seen['wall_p50_ms']:,.1f} ms, p95 {seen['wall_p95_ms']:,.1f} ms; requests left "
        f"up to {seen['late_p95_ms']:,.0f} ms late (p95).", ""])


def replay(client, name: str, qualifier: str, payload: bytes, shape: Traffic, duration_s: float, recs: list[dict],
           source: str, out_dir: Path, *, fallback_idle_s: float = facts.IDLE_RECLAIM_S, seed: int = 0,
           max_requests: int = MAX_REQUESTS, workload: str | None = None, progress=lambda done: None,
           times: np.ndarray | None = None) -> dict:
    """Send the shape (its request times: `times`, when the caller has made them with schedule()), simulate the same
    times, and write replay.json and replay.md."""
    configuration = client.get_function_configuration(FunctionName=name, Qualifier=qualifier)
    arch, memory = configuration["Architectures"][0], configuration["MemorySize"]
    ms = [m for m in plan.measurements(recs) if m.architecture == arch and m.memory_mb == memory
          and (workload is None or m.workload == workload)]
    if len(ms) != 1:
        raise ReplayError(f"{source} has {len(ms)} measurements of {arch} at {memory} MB"
                          + ("" if workload else " (choose one with --workload)") + ": one is needed to simulate")
    times = schedule(shape, duration_s, max_requests, seed) if times is None else times
    idle_s = idle_of(client, name, fallback_idle_s)
    sent = send(client, name, qualifier, payload, times, progress)
    # the simulation meets the times the requests left at (the client's own delays are not Lambda's)
    left = np.sort([s.at + s.late_ms / 1000 for s in sent])
    seen, predicted = observed(sent), predict(left, ms[0], idle_s)
    doc = {"traffic": shape.spec, "function": f"{name}:{qualifier}", "duration_s": duration_s, "idle_s": idle_s,
           "measured_from": source, "measured": f"{arch}, {memory} MB, {ms[0].workload}",
           "observed": seen, "predicted": predicted, "agreement": agreement(seen, predicted),
           "requests": [s.__dict__ | {"latency_ms": s.latency_ms} for s in sent]}
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "replay.json", json.dumps(doc, indent=1) + "\n")
    atomic_write(out_dir / "replay.md", report(doc))
    return doc
