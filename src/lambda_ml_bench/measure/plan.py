"""The decision at a traffic shape: a month of it under every way to run the model, from what a sweep measured.

For every architecture, memory size and backend a sweep measured (warm durations, cold starts, Max Memory Used), the
planner simulates the month (measure.simulate) under each compute mode:

- on-demand: Lambda's own scaling, INIT billed on cold starts;
- provisioned concurrency: N environments kept warm (N from the on-demand run's concurrency: its median, 95th
  percentile and peak), the spill-over on-demand;
- SnapStart: a cold start restores a snapshot instead of running INIT (needs a measured Restore Duration, or
  `--restore-ms`), with the cache and restore fees;
- Managed Instances: each instance type of the architecture, at EC2 prices plus the management fee.

Each option gets its monthly cost with its parts, p50/p95/p99 latency (cold starts included; throttled requests are
counted, not timed), the fraction of requests that met a cold start or a throttle, and the peak concurrency. The
answer is the cheapest option within the user's constraints, standing on native measurements only unless asked.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lambda_ml_bench import lambda_facts as facts
from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.files import atomic_write
from lambda_ml_bench.measure import markdown, records, simulate
from lambda_ml_bench.measure.traffic import Traffic, Window

MODES = ("on-demand", "provisioned", "snapstart", "managed-instances")
SNAPSTART_MARK = ", SnapStart"


class PlanError(ProjectError):
    """Measurements or constraints the planner cannot work from."""


@dataclass(frozen=True)
class Measured:
    """What a sweep measured for one architecture, memory size, backend and workload."""

    architecture: str
    memory_mb: int
    backend: str
    workload: str
    emulated: bool
    contended: bool
    warm_ms: np.ndarray
    cold_ms: np.ndarray  # a cold start's latency: INIT plus the handler
    cold_billed_ms: np.ndarray
    restore_ms: np.ndarray  # SnapStart: a restored start's latency (restore plus the handler); may be empty
    restore_billed_ms: np.ndarray
    max_memory_used_mb: int


def measurements(recs: list[dict]) -> list[Measured]:
    """Groups of a sweep's records: failed or stopped-early invocations are left out."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in recs:
        if r.get("failed") or r.get("stopped_early") or r.get("duration_ms") is None:
            continue
        backend = r.get("backend", "sklearn").replace(", $LATEST without SnapStart", "").replace(SNAPSTART_MARK, "")
        groups[(r["architecture"], int(r["memory_mb"]), backend, r.get("workload", ""))].append(r)
    out = []
    for (arch, memory, backend, workload), rs in sorted(groups.items()):
        warm = [r["duration_ms"] for r in rs if not r.get("cold")]
        cold = [r for r in rs if r.get("cold") and r.get("restore_ms") is None]
        restored = [r for r in rs if r.get("cold") and r.get("restore_ms") is not None]
        if not warm or not cold:
            continue  # a cold start and warm invocations are both needed to simulate it
        out.append(Measured(
            arch, memory, backend, workload, emulated=any(r.get("emulated") for r in rs),
            contended=any(r.get("contended") is not None and r["contended"] < 0.9 for r in rs),
            warm_ms=np.array(warm, dtype=float),
            cold_ms=np.array([r["duration_ms"] + (r.get("init_ms") or 0.0) for r in cold]),
            cold_billed_ms=np.array([r["billed_ms"] for r in cold], dtype=float),
            restore_ms=np.array([r["duration_ms"] + r["restore_ms"] for r in restored]),
            restore_billed_ms=np.array([r["billed_ms"] + math.ceil(r["restore_ms"]) for r in restored], dtype=float),
            max_memory_used_mb=max(int(r.get("max_memory_used_mb") or 0) for r in rs)))
    if not out:
        raise PlanError("no architecture and memory size in these records has both a cold start and a warm "
                        "invocation to plan from (run `lmb compare` with --warm 1 or more)")
    return out


def load_prices(region: str, path: Path | None) -> tuple[facts.Prices, dict[str, facts.InstanceType]]:
    """The region's prices and the instance types, or the user's own: a JSON object with any of Prices' fields, and
    `instances`: {type: {usd_per_hour}} to reprice one (a Savings Plan), or a whole entry to add one."""
    base = facts.PRICES.get(region)
    if base is None and path is None:
        raise PlanError(f"no Lambda prices for {region} in lambda_facts.py; pass your own with --prices FILE")
    base = base or facts.PRICES[facts.DEFAULT_REGION]
    instances = dict(facts.INSTANCE_TYPES)
    if path is None:
        return base, instances
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PlanError(f"--prices {path}: {err}") from None
    known = {f.name for f in dataclasses.fields(facts.Prices)} | {"instances"}
    if not isinstance(data, dict) or set(data) - known:
        raise PlanError(f"--prices {path}: a JSON object with fields among {', '.join(sorted(known))}")
    for field, value in data.items():
        if field != "instances" and not _like(value, getattr(base, field)):
            raise PlanError(f"--prices {path}: {field} must be shaped as lambda_facts' "
                            f"({json.dumps(getattr(base, field))}), with prices as non-negative numbers")
    for name, entry in (data.pop("instances", None) or {}).items():
        if not isinstance(entry, dict) or not all(_like(v, 1.0) for k, v in entry.items() if k != "architecture"):
            raise PlanError(f"--prices {path}: instance {name}: an object of non-negative numbers (and architecture)")
        try:
            if name in instances:
                instances[name] = dataclasses.replace(instances[name], **entry)
            else:
                instances[name] = facts.InstanceType(name=name, **entry)
        except TypeError as err:
            raise PlanError(f"--prices {path}: instance {name}: {err} (fields: architecture, vcpus, memory_gib, "
                            "usd_per_hour)") from None
        if instances[name].architecture != facts.instance_architecture(name):
            raise PlanError(f"--prices {path}: {name} is {facts.instance_architecture(name)}, not "
                            f"{instances[name].architecture}")
    return dataclasses.replace(base, **data), instances


def _like(value, example) -> bool:
    """A user's price shaped as ours: a string for a string, a non-negative number for a number, the same keys."""
    if isinstance(example, str):
        return isinstance(value, str)
    if isinstance(example, dict):
        return isinstance(value, dict) and set(value) == set(example) and all(_like(v, 1.0) for v in value.values())
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < float("inf")


@dataclass
class Option:
    mode: str
    m: Measured
    setting: dict
    monthly_usd: float = 0.0
    parts: dict = dataclasses.field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    cold_fraction: float = 0.0
    throttle_fraction: float = 0.0
    peak_concurrency: int = 0
    requests: float = 0.0

    def as_dict(self) -> dict:
        memory = (int(self.setting["memory_gib_per_vcpu"] * 1024) if self.mode == "managed-instances"
                  else self.m.memory_mb)
        return {"mode": self.mode, "architecture": self.m.architecture, "memory_mb": memory,
                "backend": self.m.backend, "workload": self.m.workload, **self.setting,
                "monthly_usd": round(self.monthly_usd, 2),
                "cost_parts": {k: round(v, 2) for k, v in self.parts.items()},
                "p50_ms": _round(self.p50_ms), "p95_ms": _round(self.p95_ms), "p99_ms": _round(self.p99_ms),
                "cold_fraction": self.cold_fraction, "throttle_fraction": self.throttle_fraction,
                "peak_concurrency": self.peak_concurrency, "requests_per_month": round(self.requests),
                "emulated": self.m.emulated, "contended": self.m.contended,
                "measured_from": {"warm": len(self.m.warm_ms), "cold": len(self.m.cold_ms),
                                  "restore": len(self.m.restore_ms), "memory_mb": self.m.memory_mb}}

    def label(self) -> str:
        s = self.setting
        extra = {"provisioned": f" N={s.get('provisioned')}", "managed-instances": f" {s.get('instance_type')}"}
        return f"{self.mode}{extra.get(self.mode, '')} {self.m.architecture} {self.m.memory_mb} MB {self.m.backend}"


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _play(traffic: Traffic, windows: list[Window], seed: int, run) -> tuple[simulate.Outcome, float]:
    """Every window played through `run(t, counted_from, window, start)`; the outcome and the windows' weight."""
    total = simulate.Outcome()
    rng = np.random.default_rng(seed)
    for w in windows:
        start = w.start - w.warmup
        t = traffic.arrivals(rng, start, w.start + w.length)
        counted_from = int(np.searchsorted(t, w.start))
        total.add(run(t, counted_from, w, start))
    return total, windows[0].weight


def _finish(o: Option, out: simulate.Outcome, weight: float) -> None:
    o.requests = out.requests * weight
    o.p50_ms, o.p95_ms, o.p99_ms = simulate.percentiles(out)
    o.cold_fraction = out.cold / out.requests if out.requests else 0.0
    o.throttle_fraction = out.throttled / out.requests if out.requests else 0.0
    o.peak_concurrency = out.peak_concurrency


def _lambda_option(mode: str, m: Measured, traffic: Traffic, windows, idle_s: float, prices: facts.Prices, seed: int,
                   provisioned: int = 0, restore_ms: float | None = None) -> tuple[Option, simulate.Outcome]:
    if mode == "snapstart":
        if len(m.restore_ms):
            cold, billed = m.restore_ms, m.restore_billed_ms
        else:  # the restore time the user gives, before a warm handler call
            cold = m.warm_ms + restore_ms
            billed = np.ceil(m.warm_ms) + math.ceil(restore_ms)
    else:
        cold, billed = m.cold_ms, m.cold_billed_ms

    def run(t, counted_from, w, start):
        return simulate.lambda_pool(t, counted_from, m.warm_ms, cold, billed, rng, idle_s, provisioned,
                                    restore=mode == "snapstart", prewarm=w.warmup > 0)

    rng = np.random.default_rng(seed + 1)
    out, weight = _play(traffic, windows, seed, run)
    setting = {"provisioned": provisioned} if mode == "provisioned" else {}
    if mode == "snapstart":
        setting["restore_measured"] = bool(len(m.restore_ms))
    o = Option(mode, m, setting)
    gb = m.memory_mb / facts.MB_PER_GB
    arch = m.architecture
    parts = {"requests": out.requests * weight * prices.request,
             "duration": out.billed_ms * weight / 1000 * gb * prices.gb_second[arch]}
    if mode == "provisioned":
        parts["provisioned"] = provisioned * gb * facts.MONTH_S * prices.provisioned_gb_second[arch]
        parts["provisioned duration"] = (out.provisioned_billed_ms * weight / 1000 * gb
                                         * prices.provisioned_duration_gb_second[arch])
    if mode == "snapstart":
        cached_s = max(facts.MONTH_S, facts.SNAPSTART_CACHE_MIN_S)
        parts["snapshot cache"] = gb * cached_s * prices.snapstart_cache_gb_second
        parts["restores"] = out.restores * weight * gb * prices.snapstart_restore_gb
    o.parts, o.monthly_usd = parts, sum(parts.values())
    _finish(o, out, weight)
    return o, out


def _cpu_ms(m: Measured) -> np.ndarray:
    """A request's CPU time on a whole vCPU: the measured duration times the share of a vCPU it had (≤ 1)."""
    return m.warm_ms * min(1.0, facts.vcpus(m.memory_mb))


def _managed_option(m: Measured, instance: facts.InstanceType, traffic: Traffic, windows, prices: facts.Prices,
                    seed: int, target_cpu: float) -> Option:
    f = simulate.fleet(instance, m.max_memory_used_mb, target_cpu=target_cpu)
    rng = np.random.default_rng(seed + 2)

    def run(t, counted_from, w, start):
        return simulate.managed_instances(t, counted_from, _cpu_ms(m), f, rng, start, w.start, w.start + w.length)

    out, weight = _play(traffic, windows, seed, run)
    setting = {"instance_type": instance.name, "processes_per_instance": f.processes,
               "memory_gib_per_vcpu": instance.memory_gib / instance.vcpus,
               "peak_instances": out.peak_instances, "mean_instances": round(out.instance_seconds / (
                   sum(w.length for w in windows)), 2)}
    o = Option("managed-instances", m, setting)
    ec2 = out.instance_seconds * weight / 3600 * instance.usd_per_hour
    o.parts = {"requests": out.requests * weight * prices.request, "instances": ec2,
               "management fee": ec2 * facts.MANAGED_FEE}
    o.monthly_usd = sum(o.parts.values())
    _finish(o, out, weight)
    return o


def options_for(ms: list[Measured], traffic: Traffic, *, idle_s: float = facts.IDLE_RECLAIM_S,
                prices: facts.Prices = facts.PRICES[facts.DEFAULT_REGION], seed: int = 0,
                restore_ms: float | None = None, modes=MODES, target_cpu: float = 0.6,
                budget: float | None = None, allow_emulated: bool = False,
                instances: dict[str, facts.InstanceType] | None = None) -> tuple[list[Option], list[dict]]:
    """Every option simulated, and the ones that could not be (with the reason)."""
    windows = traffic.windows(idle_s, **({"budget": budget} if budget else {}))
    out, skipped = [], []
    for m in [m for m in ms if m.emulated and not allow_emulated]:
        skipped.append({"mode": "every mode", "architecture": m.architecture, "memory_mb": m.memory_mb,
                        "backend": m.backend, "reason": "measured under emulation (QEMU), which says nothing of "
                        "Graviton's speed; --allow-emulated plans from it anyway"})
    ms = [m for m in ms if allow_emulated or not m.emulated]
    for m in ms:
        if "on-demand" in modes or "provisioned" in modes:  # provisioned counts are sized from on-demand's run
            od, od_out = _lambda_option("on-demand", m, traffic, windows, idle_s, prices, seed)
        if "on-demand" in modes:
            out.append(od)
        if "provisioned" in modes:
            busy = np.concatenate([*od_out.busy, np.array([], dtype=np.int64)])
            busy = busy if len(busy) else np.array([1])  # no request served: one environment, for the record
            counts = sorted({max(1, int(math.ceil(np.percentile(busy, q)))) for q in (50, 95, 100)})
            out += [_lambda_option("provisioned", m, traffic, windows, idle_s, prices, seed, provisioned=n)[0]
                    for n in counts]
        if "snapstart" in modes:
            if len(m.restore_ms) or restore_ms is not None:
                out.append(_lambda_option("snapstart", m, traffic, windows, idle_s, prices, seed,
                                          restore_ms=restore_ms)[0])
            else:
                skipped.append({"mode": "snapstart", "architecture": m.architecture, "memory_mb": m.memory_mb,
                                "backend": m.backend, "reason": "no Restore Duration measured (a sweep of functions "
                                "deployed with snapstart = true measures it) and no --restore-ms given"})
    if "managed-instances" in modes:
        for (arch, backend, workload), group in _by_function(ms).items():
            m = max(group, key=lambda g: (facts.vcpus(g.memory_mb) >= 1, -g.memory_mb if facts.vcpus(
                g.memory_mb) >= 1 else g.memory_mb))  # the smallest memory with a whole vCPU, else the largest
            for instance in (instances or facts.INSTANCE_TYPES).values():
                if instance.architecture == arch:
                    out.append(_managed_option(m, instance, traffic, windows, prices, seed, target_cpu))
    return out, skipped


def _by_function(ms: list[Measured]) -> dict[tuple, list[Measured]]:
    groups: dict[tuple, list[Measured]] = defaultdict(list)
    for m in ms:
        groups[(m.architecture, m.backend, m.workload)].append(m)
    return groups


@dataclass(frozen=True)
class Constraints:
    p99_ms: float | None = None
    budget_usd: float | None = None
    allow_emulated: bool = False
    max_throttle: float = 0.0


def eligible(o: Option, c: Constraints) -> str | None:
    """Why an option cannot be the answer, or None."""
    if o.m.emulated and not c.allow_emulated:
        return "emulated arm64 (not Graviton's speed; --allow-emulated to plan from it)"
    if o.throttle_fraction > c.max_throttle:
        return f"throttles {o.throttle_fraction:.2%} of requests"
    if c.p99_ms is not None and o.p99_ms is None:
        return "no request served, so no p99"
    if c.p99_ms is not None and o.p99_ms > c.p99_ms:
        return f"p99 {o.p99_ms:,.0f} ms > {c.p99_ms:,.0f} ms"
    if c.budget_usd is not None and o.monthly_usd > c.budget_usd:
        return f"${o.monthly_usd:,.2f}/month > ${c.budget_usd:,.2f}"
    return None


def answer(opts: list[Option], c: Constraints) -> Option | None:
    """The cheapest option within the constraints (ties: the lower p99)."""
    ok = [o for o in opts if eligible(o, c) is None]
    return min(ok, key=lambda o: (round(o.monthly_usd, 2), o.p99_ms or 0.0)) if ok else None


def parse_constraint(text: str | None, unit: str) -> float | None:
    """`300ms`, `0.3s`; `50/month`, `50`."""
    if text is None:
        return None
    t = text.strip().lower().replace("$", "")
    try:
        if unit == "ms":
            return float(t[:-2]) if t.endswith("ms") else float(t[:-1]) * 1000 if t.endswith("s") else float(t)
        return float(t.removesuffix("/month").removesuffix("/mo"))
    except ValueError:
        raise PlanError(f"{text!r}: expected {'a latency such as 300ms' if unit == 'ms' else 'USD such as 50/month'}"
                        ) from None


# --- the break-even chart: monthly cost against traffic level, one line per mode and architecture --------------
LEVELS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def break_even(opts: list[Option], traffic: Traffic, c: Constraints, idle_s: float,
               prices: facts.Prices, seed: int, restore_ms: float | None, target_cpu: float,
               instances: dict[str, facts.InstanceType] | None = None) -> dict:
    """For each mode and architecture, its cheapest eligible setting at today's traffic, simulated again at each
    level of the same shape (provisioned counts re-sized at each level)."""
    if traffic.kind == "file":
        return {}
    best: dict[tuple, Option] = {}
    for o in opts:
        if eligible(o, dataclasses.replace(c, p99_ms=None, budget_usd=None, max_throttle=1.0)) is not None:
            continue
        k = (o.mode, o.m.architecture)
        if k not in best or o.monthly_usd < best[k].monthly_usd:
            best[k] = o
    lines = {}
    for (mode, arch), o in sorted(best.items()):
        points = []
        for level in LEVELS:
            shaped = traffic.scaled(level)
            if mode == "managed-instances":
                inst = (instances or facts.INSTANCE_TYPES)[o.setting["instance_type"]]
                alt = _managed_option(o.m, inst, shaped, shaped.windows(idle_s, 300_000), prices, seed, target_cpu)
            else:
                found, _ = options_for([o.m], shaped, idle_s=idle_s, prices=prices, seed=seed, restore_ms=restore_ms,
                                       modes=(mode,), budget=300_000, allow_emulated=c.allow_emulated)
                if not found:
                    continue
                alt = min(found, key=lambda x: x.monthly_usd)
            points.append({"level": level, "requests_per_month": round(alt.requests),
                           "monthly_usd": round(alt.monthly_usd, 2), "p99_ms": _round(alt.p99_ms)})
        lines[f"{mode} {arch}"] = points
    return lines


# --- writing it down ---------------------------------------------------------------------------------------------
def prices_table(prices: facts.Prices, region: str, instances: dict[str, facts.InstanceType], own: Path | None
                 ) -> dict:
    return {"region": region, "lambda": {**dataclasses.asdict(prices)}, "yours": str(own) if own else None,
            "instances": {"as_of": facts.INSTANCE_PRICES_AS_OF, "source": facts.INSTANCE_PRICES_SOURCE,
                          "management_fee": facts.MANAGED_FEE,
                          "types": {k: dataclasses.asdict(v) for k, v in instances.items()}}}


def answer_line(a: dict | None, workload: str) -> str:
    if a is None:
        return f"{workload}: no option meets the constraints"
    setting = {"provisioned": f" with {a.get('provisioned')} provisioned",
               "managed-instances": f" on {a.get('instance_type')}"}.get(a["mode"], "")
    return (f"{workload}: {a['mode']}{setting} on {a['architecture']} at {a['memory_mb']:,} MB ({a['backend']}), "
            f"${a['monthly_usd']:,.2f}/month, p99 {_ms(a['p99_ms'])} ms")


def markdown_report(doc: dict) -> str:
    t = doc["traffic"]
    lines = [f"# Plan for {t['spec']}", ""]
    for w in doc["workloads"]:
        lines.append(f"**{answer_line(w['answer'], w['workload'])}.**")
        if w["answer"]:
            basis = w["answer"]["measured_from"]
            lines.append(f"It stands on {basis['warm']} warm and {basis['cold']} cold invocations of "
                         f"{w['answer']['architecture']} at {basis['memory_mb']:,} MB"
                         f"{' (emulated: asked for with --allow-emulated)' if w['answer']['emulated'] else ''}.")
        lines.append("")
    lines += [f"{t['requests_per_month']:,.0f} requests a month ({t['played']}); idle environments reclaimed after "
              f"{doc['assumptions']['idle_s']:g} s ([measured]({facts.IDLE_RECLAIM_SOURCE})). Constraints: "
              f"{_constraints_text(doc['constraints'])}.", ""]
    for w in doc["workloads"]:
        rows = []
        for o in sorted((o for o in doc["options"] if o["workload"] == w["workload"]), key=lambda o: o["monthly_usd"]):
            setting = (f"N={o['provisioned']}" if o["mode"] == "provisioned" else
                       f"{o['instance_type']} x{o['mean_instances']:g}" if o["mode"] == "managed-instances" else "")
            flags = ", ".join(f for f, on in (("emulated", o["emulated"]), ("contended", o["contended"])) if on)
            rows.append([o["mode"], o["architecture"], f"{o['memory_mb']:,}", o["backend"], setting,
                         f"{o['monthly_usd']:,.2f}", _ms(o["p50_ms"]), _ms(o["p95_ms"]), _ms(o["p99_ms"]),
                         f"{o['cold_fraction']:.3%}", f"{o['throttle_fraction']:.2%}", str(o["peak_concurrency"]),
                         flags])
        lines += [f"## {w['workload']}", "", markdown.table(
            ["mode", "arch", "memory MB", "backend", "setting", "USD/month", "p50 ms", "p95 ms", "p99 ms", "cold",
             "throttled", "peak", "flags"], rows, right={2, 5, 6, 7, 8, 9, 10, 11}), ""]
        if w.get("chart"):
            lines += [f"![cost against traffic, {w['workload']}]({w['chart']})", ""]
    if doc["skipped"]:
        lines += ["Not simulated:", ""] + [f"- {s['mode']}, {s['architecture']} {s['memory_mb']} MB {s['backend']}: "
                                           f"{s['reason']}" for s in doc["skipped"]] + [""]
    p = doc["prices"]
    lines += [(f"Prices: yours ({p['yours']}) over " if p.get("yours") else "Prices: ") +
              f"Lambda {p['region']} as of {p['lambda']['as_of']} ({p['lambda']['source']}); instances as of "
              f"{p['instances']['as_of']} ({p['instances']['source']}), plus the "
              f"{p['instances']['management_fee']:.0%} management fee.",
              "Latency is the function's own (handler, plus INIT or restore when cold), as its REPORT lines give it; "
              "the caller's network and API time come on top.", ""]
    return "\n".join(lines) + "\n"


def _constraints_text(c: dict) -> str:
    parts = ([f"p99 at most {c['p99_ms']:,.0f} ms"] if c["p99_ms"] is not None else []) + \
        ([f"at most ${c['budget_usd']:,.2f} a month"] if c["budget_usd"] is not None else []) + \
        (["emulated figures allowed"] if c["allow_emulated"] else [])
    return ", ".join(parts) or "none (the cheapest that throttles nothing)"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}"


def chart(lines: dict, path: Path, title: str, today: float | None = None) -> bool:
    """The break-even chart, on log scales: points of no traffic or no cost have no place there."""
    lines = {name: shown for name, points in lines.items()
             if (shown := [p for p in points if p["requests_per_month"] > 0 and p["monthly_usd"] > 0])}
    if not lines:
        return False
    from lambda_ml_bench.measure.report import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, points in lines.items():
        ax.plot([p["requests_per_month"] for p in points], [p["monthly_usd"] for p in points], marker="o", label=name)
    if today:
        ax.axvline(today, color="grey", linestyle="--", linewidth=1, label="your traffic")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("requests per month")
    ax.set_ylabel("USD per month")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path, title)
    return True


def tfvars(o: Option, handler: str) -> dict:
    """The Terraform variables that deploy `o` for `handler` (terraform/variables.tf)."""
    memory = o.m.memory_mb
    if o.mode == "managed-instances":  # one vCPU's worth at the instance's memory per vCPU, 2,048 MB at least
        memory = max(facts.MANAGED_MIN_MEMORY_MB, int(o.setting["memory_gib_per_vcpu"] * 1024))
    out = {"handler_architectures": {handler: [o.m.architecture]}, "memory_sizes": {handler: memory}}
    if o.mode == "provisioned":
        out["provisioned_concurrency"] = {handler: o.setting["provisioned"]}
    elif o.mode == "snapstart":
        out["snapstart_handlers"] = [handler]
    elif o.mode == "managed-instances":
        types = {o.m.architecture: [o.setting["instance_type"]]}
        out["managed_instances_handlers"] = {handler: {"instance_types": types,
                                                       "memory_gib_per_vcpu": o.setting["memory_gib_per_vcpu"]}}
    return out


def handler_of(recs: list[dict], backend: str) -> str:
    """The functions.json handler a sweep's records measured: the benchmark handler reports its fit, predict not."""
    from lambda_ml_bench import spec

    function = "benchmark" if any("fit_median_ms" in r for r in recs) else "predict"
    try:
        return spec.load().handler_for(function, backend).key
    except spec.SpecError as err:
        raise PlanError(str(err)) from None


def plan(recs: list[dict], traffic: Traffic, out_dir: Path, *, constraints: Constraints, region: str,
         prices_file: Path | None = None, idle_s: float = facts.IDLE_RECLAIM_S, seed: int = 0,
         restore_ms: float | None = None, target_cpu: float = 0.6, with_chart: bool = True,
         workload: str | None = None) -> tuple[dict, dict[str, Option | None]]:
    """Simulate, choose, and write plan.json, plan.md and a break-even chart per workload under `out_dir`. Returns the
    document and each workload's answer."""
    began = time.monotonic()
    prices, instances = load_prices(region, prices_file)
    ms = measurements(recs)
    workloads = sorted({m.workload for m in ms})
    if workload is not None:
        if workload not in workloads:
            raise PlanError(f"no workload {workload!r} in these records (they have: {', '.join(workloads)})")
        workloads = [workload]
    opts, skipped = options_for([m for m in ms if m.workload in workloads], traffic, idle_s=idle_s, prices=prices,
                                seed=seed, restore_ms=restore_ms, target_cpu=target_cpu,
                                allow_emulated=constraints.allow_emulated, instances=instances)
    simulated_s = time.monotonic() - began
    windows = traffic.windows(idle_s)
    played = ("the whole month" if windows[0].weight == 1.0 else
              f"played as {len(windows)} window(s) of {windows[0].length:,.0f} s, each standing for "
              f"{windows[0].weight:,.0f}")
    out_dir.mkdir(parents=True, exist_ok=True)
    answers, per_workload = {}, []
    for i, w in enumerate(workloads):
        mine = [o for o in opts if o.m.workload == w]
        best = answer(mine, constraints)
        answers[w] = best
        entry = {"workload": w, "answer": best.as_dict() if best else None,
                 "why_not": {o.label(): why for o in mine if (why := eligible(o, constraints))}}
        if with_chart:
            lines = break_even(mine, traffic, constraints, idle_s, prices, seed, restore_ms, target_cpu,
                               instances)
            png = f"plan-{i + 1}.png" if len(workloads) > 1 else "plan.png"
            entry["break_even"] = lines
            if chart(lines, out_dir / png, f"Monthly cost against traffic: {w} ({traffic.spec})",
                     traffic.requests_per_month()):
                entry["chart"] = png
        per_workload.append(entry)
    doc = {
        "traffic": {"spec": traffic.spec, "kind": traffic.kind, "requests_per_month": traffic.requests_per_month(),
                    "played": played},
        "constraints": {"p99_ms": constraints.p99_ms, "budget_usd": constraints.budget_usd,
                        "allow_emulated": constraints.allow_emulated},
        "assumptions": {"idle_s": idle_s, "idle_source": facts.IDLE_RECLAIM_SOURCE,
                        "account_concurrency": facts.ACCOUNT_CONCURRENCY, "scale": f"{facts.SCALE_STEP} environments "
                        f"per {facts.SCALE_PERIOD_S} s", "managed_target_cpu": target_cpu, "seed": seed,
                        "month_hours": facts.MONTH_S / 3600},
        "prices": prices_table(prices, region, instances, prices_file),
        "options": [o.as_dict() for o in opts],
        "skipped": skipped,
        "workloads": per_workload,
        "answer": per_workload[0]["answer"] if len(per_workload) == 1 else None,
        "simulated_in_s": round(simulated_s, 2),
    }
    atomic_write(out_dir / "plan.json", json.dumps(doc, indent=1) + "\n")
    atomic_write(out_dir / "plan.md", markdown_report(doc))
    return doc, answers


def read_records(path: Path) -> list[dict]:
    try:
        return records.from_jsonl(path)
    except (OSError, ValueError) as err:
        raise PlanError(f"{path}: {err}") from None
