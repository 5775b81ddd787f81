"""Importing a built layer in a fresh interpreter: does it load, and how fast is a cold import."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

from layer_build.errors import BuildError

# Runs inside the layer's interpreter with -S: only the layer is on sys.path, as on Lambda.
_PROBE = r"""
import json, platform, sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import numpy, scipy, sklearn.svm
import_s = time.perf_counter() - t0
result = {"import_s": import_s, "machine": platform.machine(),
          "python": platform.python_version(), "numpy": numpy.__version__,
          "scipy": scipy.__version__, "sklearn": __import__("sklearn").__version__}
if sys.argv[2] == "fit":
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    model = sklearn.svm.SVC().fit(X[:150], y[:150])
    result["accuracy"] = float((model.predict(X[150:]) == y[150:]).mean())
    result["loaded_from"] = numpy.__file__
print(json.dumps(result))
"""


def run_probe(python: list[str], site_dir: str, fit: bool, env: dict[str, str] | None = None) -> dict:
    """Run the probe with `python` (a command prefix, so an emulator can wrap it)."""
    # Nothing of the host's environment: Lambda sets no OPENBLAS_CORETYPE, so OpenBLAS picks its kernel
    # from the CPU as it will there.
    clean = {"PATH": os.defpath, "LANG": "C.UTF-8", **(env or {})}
    # -B: nothing may be written beside the layer (Lambda's /opt is read-only).
    proc = subprocess.run(
        [*python, "-S", "-E", "-B", "-c", _PROBE, site_dir, "fit" if fit else "import"],
        capture_output=True, text=True, env=clean, timeout=600,
    )
    if proc.returncode != 0:
        raise BuildError(f"import check failed in {site_dir}:\n{proc.stderr.strip()[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def import_check(python: str, site_dir: Path) -> dict:
    """numpy, scipy and sklearn.svm import from the layer alone, and an SVC fits and predicts."""
    result = run_probe([python], str(site_dir), fit=True)
    if not result["loaded_from"].startswith(str(site_dir)):
        raise BuildError(f"numpy was imported from {result['loaded_from']}, not from the layer")
    if result["accuracy"] < 0.7:
        raise BuildError(f"SVC from the layer scored {result['accuracy']:.2f}: the layer computes wrong")
    return result


def cold_imports(python: str, dirs: dict[str, Path], rounds: int) -> dict[str, list[float]]:
    """Interleaved cold-import timings (seconds) of each tree in `dirs`, one fresh process each."""
    timings: dict[str, list[float]] = {name: [] for name in dirs}
    for _ in range(rounds):
        for name, site in dirs.items():
            timings[name].append(run_probe([python], str(site), fit=False)["import_s"])
    return timings


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(numerator) / statistics.median(denominator)
