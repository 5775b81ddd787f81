"""Lambda's scaling, request by request: which requests meet a cold start or a throttle, and what each one costs.

On-demand (and SnapStart, and provisioned concurrency's spill-over): an environment serves one request at a time; a
request takes an idle environment if one is free, the most recently used first (as the local Lambda does), else a new
one starts (a cold start: INIT, or a snapshot restore). An environment idle for `idle_s` is reclaimed. With the
most-recently-used rule, the environments alive at a time are exactly as many as the most requests in flight at once
during the idle time before it, so a request is cold when the requests in flight with it outnumber that, and more
than the provisioned environments (which are never reclaimed). Cold starts lengthen what is in flight, so the rule is
applied until it settles (a throttled request stays throttled), or played request by request when it does not. A
function adds at most 1,000 environments every 10 seconds, and runs at most `limit` at once; a request beyond
either is throttled.

Managed Instances: no cold start per request. Instances run as many processes as their vCPUs × the per-vCPU
concurrency and their memory allow (Max Memory Used per process); requests share the instance's vCPUs (processor
sharing: k requests on V vCPUs each run max(1, k/V) times slower). The instance count follows the CPU the traffic needs
at a target utilisation, never below the minimum, and grows at most twofold every 5 minutes; requests beyond the
processes of the instances running are throttled.
"""
from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import maximum_filter1d

from lambda_ml_bench import lambda_facts as facts

ITERATIONS = 8  # vectorised passes before a window is played request by request


@dataclass
class Outcome:
    """What the counted part of a window did (sums; the caller scales them to a month)."""

    requests: int = 0
    cold: int = 0
    throttled: int = 0
    peak_concurrency: int = 0
    billed_ms: float = 0.0  # on-demand billed duration (warm and cold)
    provisioned_billed_ms: float = 0.0  # billed duration on provisioned environments
    restores: int = 0
    latencies_ms: list[np.ndarray] = field(default_factory=list)
    busy: list[np.ndarray] = field(default_factory=list)  # in flight at each arrival (for sizing provisioned counts)
    instance_seconds: float = 0.0  # Managed Instances: instance-seconds run
    peak_instances: int = 0

    def add(self, other: Outcome) -> None:
        for name in ("requests", "cold", "throttled", "billed_ms", "provisioned_billed_ms", "restores",
                     "instance_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.peak_concurrency = max(self.peak_concurrency, other.peak_concurrency)
        self.peak_instances = max(self.peak_instances, other.peak_instances)
        self.latencies_ms += other.latencies_ms
        self.busy += other.busy


def _in_flight(t: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Requests in flight just after each arrival (itself included), and the sorted departure times."""
    departures = np.sort(t + seconds)
    return np.arange(1, len(t) + 1) - np.searchsorted(departures, t, side="right"), departures


def _alive_before(t: np.ndarray, busy: np.ndarray, departures: np.ndarray, idle_s: float) -> np.ndarray:
    """Environments alive just before each arrival: the most requests in flight during the idle time before it.

    Exact, in O(n log n): time is cut into bins of idle_s / K (K even, about a second each), so that the idle time
    before an arrival in bin k starts in bin k - K at the arrival's own offset. Its maximum is then: the arrivals of
    bin k - K from the idle time's start on (a running maximum from each bin's end), the whole bins k - K + 1 .. k - 1
    (a trailing window of K - 1 bins), the arrivals of bin k before this one (a running maximum from each bin's start),
    and the requests already in flight when the idle time began."""
    n = len(t)
    if n == 0:
        return busy
    k = max(2, int(round(idle_s)))
    k += k % 2
    width = idle_s / k
    bins = np.floor((t - t[0]) / width).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    per_bin = np.zeros(int(bins[-1]) + 1)
    per_bin[bins[starts]] = np.maximum.reduceat(busy, starts)
    size = k - 1  # odd
    trailing = maximum_filter1d(per_bin, size=size, mode="constant", cval=0, origin=(size - 1) // 2)
    whole = np.r_[0, trailing[:-1]][bins]  # bins k-K+1 .. k-1
    offset = bins * (int(busy.max()) + 1)
    within = np.r_[0, (np.maximum.accumulate(busy + offset) - offset)[:-1]]
    within[starts] = 0  # the arrivals of this bin before this one
    from_end = (np.maximum.accumulate((busy - offset)[::-1]) + offset[::-1])[::-1]  # max from here to the bin's end
    s0 = t - idle_s
    j0 = np.searchsorted(t, s0, side="left")  # the first arrival in the idle time
    j0c = np.minimum(j0, n - 1)
    head = np.where((j0 < np.arange(n)) & (bins[j0c] == bins - k), from_end[j0c], 0)
    at_start = np.searchsorted(t, s0, side="right") - np.searchsorted(departures, s0, side="right")
    return np.maximum.reduce([whole, within, head, at_start])


def lambda_pool(t: np.ndarray, counted_from: int, warm_ms: np.ndarray, cold_ms: np.ndarray,
                cold_billed_ms: np.ndarray, rng: np.random.Generator, idle_s: float = facts.IDLE_RECLAIM_S,
                provisioned: int = 0, limit: int = facts.ACCOUNT_CONCURRENCY, restore: bool = False,
                prewarm: bool = False) -> Outcome:
    """One window of on-demand Lambda (see the module's docstring). `warm_ms`: measured warm durations; `cold_ms`
    and `cold_billed_ms`: the latency and billed duration of measured cold starts, side by side (a cold start's
    latency is drawn from these, its handler duration included). With `prewarm`, the window's warm-up starts with
    the environments its own traffic keeps busy (as many as its warm requests ever have in flight at once), last
    used as it begins, instead of none: a month has no empty pool in the middle of it.

    The rule is applied as a fixed point, vectorised; chains of cold starts (each lengthening what is in flight
    for the next) settle one link per pass, so after ITERATIONS passes the window is played request by request
    instead (_sequential): the same rule, the same answer, slower."""
    n = len(t)
    warm = warm_ms[rng.integers(0, len(warm_ms), n)]
    pick = rng.integers(0, len(cold_ms), n)
    cold_latency, cold_billed = cold_ms[pick], cold_billed_ms[pick]
    initial = 0
    if prewarm and counted_from > 0:
        initial = int(_in_flight(t, warm / 1000.0)[0][:counted_from].max())
    kept = np.where(t < (t[0] if n else 0.0) + idle_s, initial, 0)  # the initial ones, until reclaimed unused
    cold = np.zeros(n, dtype=bool)
    throttled = np.zeros(n, dtype=bool)
    period = np.floor(t / facts.SCALE_PERIOD_S).astype(np.int64)
    for _iteration in range(ITERATIONS):
        seconds = np.where(throttled, 0.0, np.where(cold, cold_latency, warm)) / 1000.0
        busy, departures = _in_flight(t, seconds)
        others = busy - ~throttled  # in flight beside this request (a throttled one left as it came)
        alive = np.maximum.reduce([_alive_before(t, busy, departures, idle_s), kept, np.full(n, provisioned)])
        new_throttled = throttled | (others >= limit)  # once throttled, always: the fixed point is reached from below
        new_cold = (busy > alive) & ~new_throttled
        # at most SCALE_STEP new environments per SCALE_PERIOD_S
        if new_cold.sum() > facts.SCALE_STEP:
            order = np.flatnonzero(new_cold)
            first = np.r_[True, period[order][1:] != period[order][:-1]]
            group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
            rank = np.arange(len(order)) - group_start
            over = order[rank >= facts.SCALE_STEP]
            new_throttled[over] = True
        new_cold &= ~new_throttled
        if np.array_equal(new_cold, cold) and np.array_equal(new_throttled, throttled):
            break
        cold, throttled = new_cold, new_throttled
    else:
        cold, throttled, busy = _sequential(t, warm, cold_latency, idle_s, provisioned, limit, initial)
    sl = slice(counted_from, n)
    served = ~throttled[sl]
    latency = np.where(cold[sl], cold_latency[sl], warm[sl])[served]
    on_provisioned = (busy[sl] <= provisioned) & ~cold[sl] & served
    billed = np.where(cold[sl], cold_billed[sl], np.ceil(warm[sl]))
    return Outcome(
        requests=n - counted_from, cold=int(cold[sl].sum()), throttled=int(throttled[sl].sum()),
        peak_concurrency=int(busy[sl].max()) if n > counted_from else 0,
        billed_ms=float(billed[served & ~on_provisioned].sum()),
        provisioned_billed_ms=float(billed[on_provisioned].sum()),
        restores=int(cold[sl].sum()) if restore else 0,
        latencies_ms=[latency], busy=[busy[sl][served]])


def _sequential(t: np.ndarray, warm_ms: np.ndarray, cold_ms: np.ndarray, idle_s: float, provisioned: int, limit: int,
                initial: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same rule, request by request: (cold, throttled, in flight after each arrival)."""
    n = len(t)
    cold, throttled, busy = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    in_flight: list[tuple[float, bool]] = []  # (release time, on a provisioned environment)
    idle = deque([float(t[0])] * initial if n else [])  # release times of idle on-demand environments, oldest first
    spare, started = provisioned, defaultdict(int)
    for i, now in enumerate(t.tolist()):
        while in_flight and in_flight[0][0] <= now:
            released, was_provisioned = heapq.heappop(in_flight)
            if was_provisioned:
                spare += 1
            else:
                idle.append(released)
        while idle and idle[0] <= now - idle_s:
            idle.popleft()
        if len(in_flight) >= limit:
            throttled[i], busy[i] = True, len(in_flight)
            continue
        if spare:
            spare -= 1
            heapq.heappush(in_flight, (now + warm_ms[i] / 1000.0, True))
        elif idle:
            idle.pop()  # the most recently released
            heapq.heappush(in_flight, (now + warm_ms[i] / 1000.0, False))
        else:
            period = int(now // facts.SCALE_PERIOD_S)
            if started[period] >= facts.SCALE_STEP:
                throttled[i], busy[i] = True, len(in_flight)
                continue
            started[period] += 1
            cold[i] = True
            heapq.heappush(in_flight, (now + cold_ms[i] / 1000.0, False))
        busy[i] = len(in_flight)
    return cold, throttled, busy


@dataclass(frozen=True)
class Fleet:
    """How a function runs on one instance type of a capacity provider."""

    instance: facts.InstanceType
    processes: int  # concurrent requests one instance takes: vCPUs × per-vCPU concurrency, within its memory
    target_cpu: float  # the utilisation the scaler keeps
    min_instances: int = facts.MANAGED_MIN_INSTANCES


def fleet(instance: facts.InstanceType, max_memory_used_mb: float, per_vcpu: int = facts.MANAGED_PER_VCPU_CONCURRENCY,
          target_cpu: float = 0.6) -> Fleet:
    by_memory = int(instance.memory_gib * 1024 // max(max_memory_used_mb, 1))
    return Fleet(instance, max(1, min(instance.vcpus * per_vcpu, by_memory)), target_cpu)


def managed_instances(t: np.ndarray, counted_from: int, cpu_ms: np.ndarray, f: Fleet, rng: np.random.Generator,
                      start: float, counted_start: float, end: float) -> Outcome:
    """One window on Managed Instances (see the module's docstring): minute by minute, the instances running and
    each request's share of its instance's vCPUs."""
    n = len(t)
    minutes = max(1, int(math.ceil((end - start) / 60.0)))
    minute = np.clip(((t - start) // 60).astype(np.int64), 0, minutes - 1)
    per_minute = np.bincount(minute, minlength=minutes) / 60.0  # requests/s
    cpu_s = float(np.mean(cpu_ms)) / 1000.0
    vcpus = f.instance.vcpus
    wanted = np.maximum(f.min_instances, np.ceil(per_minute * cpu_s / (vcpus * f.target_cpu))).astype(np.int64)
    running = np.empty(minutes, dtype=np.int64)
    step = facts.MANAGED_DOUBLING_S // 60
    for m in range(minutes):  # at most twice what ran five minutes before (minute by minute: cheap)
        before = running[m - step] if m >= step else wanted[0]
        running[m] = min(wanted[m], 2 * max(before, f.min_instances))
    work = cpu_ms[rng.integers(0, len(cpu_ms), n)]
    # requests in flight on an instance: Poisson with mean rate × latency / instances, latency stretched by sharing
    mean_latency = np.full(minutes, cpu_s)
    for _ in range(20):
        load = per_minute * mean_latency / running
        stretch = np.maximum(1.0, (load + 1.0) / vcpus)
        if np.allclose(stretch * cpu_s, mean_latency, rtol=1e-3):
            break
        mean_latency = np.minimum(stretch * cpu_s, 3600.0)
    others = rng.poisson(load[minute])
    throttled = others + 1 > f.processes
    saturated = per_minute * cpu_s > running * vcpus  # more CPU asked than the instances have: the excess waits out
    excess = np.where(saturated, 1.0 - running * vcpus / np.maximum(per_minute * cpu_s, 1e-12), 0.0)
    throttled |= rng.random(n) < excess[minute]
    latency = work * np.maximum(1.0, (np.minimum(others, f.processes - 1) + 1.0) / vcpus)
    sl = slice(counted_from, n)
    counted_minutes = slice(min(minutes - 1, int((counted_start - start) // 60)), minutes)
    return Outcome(
        requests=n - counted_from, throttled=int(throttled[sl].sum()),
        peak_concurrency=int((np.minimum(others[sl], f.processes - 1) + 1).max()) if n > counted_from else 0,
        latencies_ms=[latency[sl][~throttled[sl]]],
        instance_seconds=float(running[counted_minutes].sum() * 60.0),
        peak_instances=int(running[counted_minutes].max()))


def percentiles(outcome: Outcome, qs=(50, 95, 99)) -> list[float | None]:
    """Latency percentiles of the requests served (every window weighs the same)."""
    lat = np.concatenate(outcome.latencies_ms) if outcome.latencies_ms else np.array([])
    if len(lat) == 0:
        return [None for _ in qs]
    return [float(v) for v in np.percentile(lat, qs)]
