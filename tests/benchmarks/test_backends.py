"""Each model's own backend against ONNX Runtime, side by side in one run, on x86_64 (native) and arm64 (emulated,
labelled): handler cold start in a fresh interpreter and warm 1-row and 1,000-row predictions, each with the built
layer and function package only (the runtime's own sys.path and LD_LIBRARY_PATH: /opt/python, /opt/lib and
/var/task); layer sizes come with them. Four models: the built-in one (numbers) and a tabular one (string categories
and missing values, served from a DataFrame) on scikit-learn, an XGBoost and a LightGBM model file (gaps included) on
their own libraries.

Each timed onnx measurement follows one measurement of the model's own backend made the same way (interleaved): the
ratio of their medians is printed with the targets (scikit-learn's models: cold start <= 0.3x, warm 1 row <= 0.25x,
1,000 rows <= 1x; the boosters: warm 1 row <= 0.25x); no test fails on a time."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from lambda_ml_bench.build.interpreters import find_python
from lambda_ml_bench.build.platforms import ARCHITECTURES, host_architecture
from lambda_ml_bench.lambda_facts import LIBRARY_PATH

pytestmark = pytest.mark.integration
HOST = host_architecture()
HANDLERS = {"sklearn": "predict", "onnx": "predict_onnx", "xgboost": "predict_xgboost", "lightgbm": "predict_lightgbm"}
# onnx / the model's own backend: scikit-learn's targets (cold start, 1 row, 1,000 rows), and the boosters' one (a
# warm row at a quarter of the booster's time); a ratio without a target is reported as measured
TARGETS = {"sklearn": {"cold": 0.3, 1: 0.25, 1000: 1.0}, "booster": {"cold": None, 1: 0.25, 1000: None}}


def target(model: str, measure) -> float | None:
    return TARGETS["sklearn" if MODELS[model] == "sklearn" else "booster"][measure]
MiB = 1024 * 1024

# In a fresh interpreter with only the layer and the package on sys.path (argv: task, layer, handler module).
_COLD = r"""
import sys, time
started = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
__import__("handlers." + sys.argv[3])
print(time.perf_counter() - started)
"""
# A warm environment: the handler loaded once, then asked on stdin for `calls` predictions of `rows` rows; each
# call is timed in the process, so the pipe's round trip is not in the figures.
_WARM = r"""
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
handler = __import__("handlers." + sys.argv[3], fromlist=["handler"]).handler
rows = json.loads(sys.stdin.readline())
print("ready", flush=True)
for line in sys.stdin:
    n, calls = map(int, line.split())
    event, times = {"instances": rows[:n]}, []
    for _ in range(calls):
        t = time.perf_counter()
        out = handler(event, None)
        times.append(time.perf_counter() - t)
    assert len(out["predictions"]) == n
    print(json.dumps(times), flush=True)
"""


# each model and its own backend
MODELS = {"built-in": "sklearn", "tabular": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm"}
BOOSTERS = {"xgboost": "cancer-xgboost", "lightgbm": "wine-lightgbm"}  # tests/support.booster_files


def tabular_package(folder: Path) -> Path:
    """The tabular model (tests/support.boosted_pipeline) imported as users do, with held-out rows, and packaged."""
    import skops.io
    from support import boosted_pipeline, wine_frame

    from lambda_ml_bench.build.model import import_model
    from lambda_ml_bench.build.package import build_package
    from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES

    skops.io.dump(boosted_pipeline(), folder / "wine-boosted.skops")
    wine_frame()[0].sample(60, random_state=1).to_csv(folder / "held-out.csv", index=False)
    trust = skops.io.get_untrusted_types(file=folder / "wine-boosted.skops")
    manifest = import_model(folder / "wine-boosted.skops", trust, "1", folder / "model",
                            rt=RUNTIMES[DEFAULT_PYTHON], check_data=folder / "held-out.csv")
    assert manifest["onnx"]["exported"], manifest["onnx"]
    package = build_package(RUNTIMES[DEFAULT_PYTHON], folder / "model", out_dir=folder / "function",
                            work_dir=folder / "work", say=lambda _: None)
    return folder / "function" / package["zip"]["file"]


def booster_package(folder: Path, model_file: Path, held_out: Path) -> tuple[Path, np.ndarray]:
    """A booster's own model file imported with its held-out rows (exported to ONNX), packaged; and those rows."""
    from lambda_ml_bench.build.model import import_model
    from lambda_ml_bench.build.package import build_package
    from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES

    manifest = import_model(model_file, [], "1", folder / "model", rt=RUNTIMES[DEFAULT_PYTHON], check_data=held_out)
    assert manifest["onnx"]["exported"], manifest["onnx"]
    package = build_package(RUNTIMES[DEFAULT_PYTHON], folder / "model", out_dir=folder / "function",
                            work_dir=folder / "work", say=lambda _: None)
    rows = np.genfromtxt(held_out, delimiter=",", skip_header=1)
    return folder / "function" / package["zip"]["file"], rows


@pytest.fixture(scope="module")
def tasks(package: dict, dist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list]]:
    """{model: (the unpacked function package, 1,000 request rows)}."""
    from support import as_rows, booster_files, wine_frame

    zips = {"built-in": dist / "function" / package["zip"]["file"],
            "tabular": tabular_package(tmp_path_factory.mktemp("tabular"))}
    X, _ = load_breast_cancer(return_X_y=True)
    wine = as_rows(wine_frame()[0])
    rows = {"built-in": np.resize(X, (1000, X.shape[1])).tolist(), "tabular": (wine * 6)[:1000]}
    files = booster_files(tmp_path_factory.mktemp("boosters"))
    for model, name in BOOSTERS.items():
        zips[model], held_out = booster_package(tmp_path_factory.mktemp(model), *files[name][:2])
        rows[model] = [[None if np.isnan(v) else float(v) for v in r]
                       for r in np.resize(held_out, (1000, held_out.shape[1]))]
    out = {}
    for model, zipped in zips.items():
        folder = tmp_path_factory.mktemp(f"task-{model}")
        with zipfile.ZipFile(zipped) as zf:
            zf.extractall(folder)
        out[model] = (folder, rows[model])
    return out


def python_in(arch: str, layer: Path, task: Path, sandbox: Path) -> tuple[list[str], str, str]:
    """(command prefix, task path, layer path) for a layer-only interpreter of `arch`: the host's Python 3.13 for
    the host's architecture, the sandbox root's under QEMU for the other (as the local Lambda runs it)."""
    from lambda_ml_bench.sandbox.roots import PYTHON, root_dir, sandboxed

    if arch == HOST.name:
        python = find_python("3.13")
        if python is None:
            pytest.skip("no Python 3.13 on this machine")
        return ["env", f"LD_LIBRARY_PATH={layer.parent / 'lib'}", python, "-S", "-B"], str(task), str(layer)
    command = sandboxed(ARCHITECTURES[arch], root_dir(ARCHITECTURES[arch]), [PYTHON, "-S", "-B"],
                        binds={"/opt": layer.parent, "/var/task": task},
                        environment={**ENV, "LD_LIBRARY_PATH": LIBRARY_PATH})
    return command, "/var/task", "/opt/python"


ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}  # one vCPU, as deployed


def labels(benchmark, arch: str, built: dict, role: str, model: str, **extra) -> None:
    native = MODELS[model]
    layers = {kind: {"zipped_mib": round(built[kind][arch]["zip"]["zipped_bytes"] / MiB, 1),
                     "unzipped_mib": round(built[kind][arch]["zip"]["unzipped_bytes"] / MiB, 1),
                     "budget_mib": (built[kind][arch]["limits"]["zipped_budget_bytes"] or 0) / MiB or None}
              for kind in (native, "onnx")}
    benchmark.extra_info.update({"architecture": arch, "emulated": arch != HOST.name, "backend": "onnx",
                                 "baseline": native, "role": role, "layers": layers, "model": model, **extra})


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("model", MODELS)
def test_cold_start(benchmark, built: dict, unpacked: dict, tasks: dict, sandbox: Path, model: str, arch: str) -> None:
    """Interpreter start, handler import and model load, in a fresh process, onnx beside the model's own backend."""
    benchmark.group = f"backend-cold-start-{model}-{arch}{' (emulated)' if arch != HOST.name else ''}"
    task = tasks[model][0]

    def run(kind: str) -> float:
        prefix, task_path, layer_path = python_in(arch, unpacked[kind][arch], task, sandbox)
        proc = subprocess.run([*prefix, "-c", _COLD, task_path, layer_path, HANDLERS[kind]], capture_output=True,
                              text=True, env={**ENV, "PATH": os.defpath}, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return float(proc.stdout)

    baseline_ms: list[float] = []
    rounds = 5 if arch == HOST.name else 2

    def setup():
        import time

        started = time.perf_counter()
        run(MODELS[model])
        baseline_ms.append((time.perf_counter() - started) * 1e3)

    labels(benchmark, arch, built, "measured", model, target_ratio=target(model, "cold"),
           measure="cold start (process wall)")
    benchmark.pedantic(run, args=("onnx",), setup=setup, rounds=rounds, iterations=1)
    benchmark.extra_info["interleaved_baseline_ms"] = baseline_ms


class Warm:
    """One warm environment: a layer-only interpreter holding a loaded handler."""

    def __init__(self, prefix: list[str], task_path: str, layer_path: str, handler: str, rows: list) -> None:
        self.proc = subprocess.Popen([*prefix, "-c", _WARM, task_path, layer_path, handler], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**ENV, "PATH": os.defpath})
        self.proc.stdin.write(json.dumps(rows) + "\n")
        self.proc.stdin.flush()
        ready = self.proc.stdout.readline().strip()
        assert ready == "ready", self.proc.stderr.read()[-2000:]

    def calls(self, n_rows: int, calls: int) -> list[float]:
        self.proc.stdin.write(f"{n_rows} {calls}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()[-2000:]
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def warm(unpacked: dict, tasks: dict, sandbox: Path):
    """{(model, kind, arch): Warm}, started once for the module; closed at its end."""
    started = {}
    try:
        for model, (task, rows) in tasks.items():
            for arch in ARCHITECTURES:
                for kind in (MODELS[model], "onnx"):
                    started[(model, kind, arch)] = Warm(*python_in(arch, unpacked[kind][arch], task, sandbox),
                                                        HANDLERS[kind], rows)
        yield started
    finally:
        for w in started.values():
            w.close()


@pytest.mark.parametrize("n_rows", [1, 1000])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("model", MODELS)
def test_warm_predictions(benchmark, built: dict, warm: dict, model: str, arch: str, n_rows: int) -> None:
    """A round is `calls` handler calls in one warm environment; onnx rounds follow rounds of the model's own
    backend. The ratio is of the per-call medians each process timed itself."""
    emulated = arch != HOST.name
    benchmark.group = f"backend-warm-{model}-{n_rows}-rows-{arch}{' (emulated)' if emulated else ''}"
    warm = {("native" if kind != "onnx" else kind, a): w for (m, kind, a), w in warm.items() if m == model}
    calls = {1: 100, 1000: 5}[n_rows] // (5 if emulated else 1)
    onnx_ms: list[float] = []
    native_ms: list[float] = []
    warm[("onnx", arch)].calls(n_rows, calls)  # caches warm
    warm[("native", arch)].calls(n_rows, calls)

    def setup():
        native_ms.extend(t * 1e3 for t in warm[("native", arch)].calls(n_rows, calls))

    def run():
        onnx_ms.extend(t * 1e3 for t in warm[("onnx", arch)].calls(n_rows, calls))

    labels(benchmark, arch, built, "measured", model, rows=n_rows, calls_per_round=calls,
           target_ratio=target(model, n_rows), measure="warm handler call (in-process)")
    benchmark.pedantic(run, setup=setup, rounds=10 if not emulated else 3, iterations=1)
    benchmark.extra_info.update({"per_call_ms": onnx_ms, "baseline_per_call_ms": native_ms,
                                 "median_ms": statistics.median(onnx_ms),
                                 "baseline_median_ms": statistics.median(native_ms)})
