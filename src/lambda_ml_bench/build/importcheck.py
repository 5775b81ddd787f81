"""Importing a built layer in a fresh interpreter: does it load, and how fast is a cold import."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

from lambda_ml_bench.build.backends import Backend
from lambda_ml_bench.build.errors import BuildError

# Runs inside the layer's interpreter with -S: only the layer is on sys.path, as on Lambda. argv: the layer's
# python/ folder, then a JSON object: the modules to import, and which working check to run after importing.
_PROBE = r"""
import base64, json, os, platform, sys, time
sys.path.insert(0, sys.argv[1])
spec = json.loads(sys.argv[2])
sys.path[1:1] = [os.path.join(sys.argv[1], d) for d in spec.get("apart", [])]
t0 = time.perf_counter()
for name in spec["imports"]:
    __import__(name)
import_s = time.perf_counter() - t0
import numpy
result = {"import_s": import_s, "machine": platform.machine(), "python": platform.python_version(),
          "loaded_from": numpy.__file__,
          "versions": {n: sys.modules[n].__version__ for n in {i.split(".")[0] for i in spec["imports"]}}}
if spec.get("check") == "svc-fit":
    import sklearn.svm
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    model = sklearn.svm.SVC().fit(X[:150], y[:150])
    result["accuracy"] = float((model.predict(X[150:]) == y[150:]).mean())
elif spec.get("check") in ("xgboost-train", "lightgbm-train"):
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    if spec["check"] == "xgboost-train":
        import xgboost
        booster = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(X[:300], label=y[:300]), 20)
        scores = booster.inplace_predict(X[300:])
    else:
        import lightgbm
        booster = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(X[:300], label=y[:300]),
                                 20)
        scores = booster.predict(X[300:])
    result["accuracy"] = float(((scores > 0.5) == y[300:]).mean())
    with open("/proc/self/maps") as maps:  # where each shared library came from: the layer's own lib/ or not
        result["mapped"] = sorted({line.split()[-1] for line in maps if ".so" in line.rsplit("/", 1)[-1]})
elif spec.get("check") == "boosting-fit":
    import lightgbm, xgboost
    from sklearn.datasets import make_classification
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = make_classification(n_samples=400, n_features=8, random_state=0)
    models = (xgboost.XGBClassifier(n_estimators=20), lightgbm.LGBMClassifier(n_estimators=20, verbose=-1))
    scores = [make_pipeline(StandardScaler(), m).fit(X[:300], y[:300]).score(X[300:], y[300:]) for m in models]
    result["accuracy"] = float(min(scores))
    with open("/proc/self/maps") as maps:
        result["mapped"] = sorted({line.split()[-1] for line in maps if ".so" in line.rsplit("/", 1)[-1]})
elif spec.get("check") == "onnx-session":
    import onnxruntime
    session = onnxruntime.InferenceSession(base64.b64decode(spec["model"]), providers=["CPUExecutionProvider"])
    rows = numpy.array(spec["rows"], dtype=numpy.float64)
    result["probabilities"] = session.run(None, {session.get_inputs()[0].name: rows})[1].tolist()
print(json.dumps(result))
"""


def run_probe(python: list[str], site_dir: str, spec: dict, env: dict[str, str] | None = None) -> dict:
    """Run the probe with `python` (a command prefix, so an emulator or a sandbox can wrap it)."""
    # Nothing of the host's environment: Lambda sets no OPENBLAS_CORETYPE, so OpenBLAS picks its kernel
    # from the CPU as it will there.
    clean = {"PATH": os.defpath, "LANG": "C.UTF-8", **(env or {})}
    # -B: nothing may be written beside the layer (Lambda's /opt is read-only).
    proc = subprocess.run(
        [*python, "-S", "-E", "-B", "-c", _PROBE, site_dir, json.dumps(spec)],
        capture_output=True, text=True, env=clean, timeout=900,
    )
    if proc.returncode != 0:
        raise BuildError(f"import check failed in {site_dir}:\n{proc.stderr.strip()[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe_spec(kind: Backend, check: bool = True) -> dict:
    """What the probe imports and checks for one layer kind (check=False: imports only, for timing)."""
    spec: dict = {"imports": list(kind.imports)}
    if kind.apart:  # what the layer holds off sys.path is imported as a model needing it imports it
        from lambda_ml_bench.handlers.model import APART_DIR

        spec["apart"] = [APART_DIR]
    if check:
        spec["check"] = kind.check
        if kind.check == "onnx-session":
            from lambda_ml_bench.build.onnx_export import probe_case

            spec.update(probe_case())
    return spec


def verify(kind: Backend, site_dir: str, spec: dict, result: dict) -> dict:
    """The probe's answer holds: numpy came from the layer, and the layer computes what it should."""
    if not result["loaded_from"].startswith(site_dir):
        raise BuildError(f"numpy was imported from {result['loaded_from']}, not from the layer")
    if "accuracy" in result and result["accuracy"] < 0.7:
        raise BuildError(f"the {kind.name} layer's model scored {result['accuracy']:.2f}: the layer computes wrong")
    lib_dir = str(Path(site_dir).parent / "lib")
    for lib in kind.libraries:
        used = [p for p in result.pop("mapped", []) if p.rsplit("/", 1)[-1] == lib.soname]
        if used != [f"{lib_dir}/{lib.soname}"]:
            raise BuildError(f"{lib.soname} was loaded from {used or 'nowhere'}, not from the layer's {lib_dir}")
    result.pop("mapped", None)
    if kind.check == "onnx-session":
        import numpy

        from lambda_ml_bench.build.onnx_export import TOLERANCE

        worst = float(numpy.max(numpy.abs(numpy.array(result.pop("probabilities")) - numpy.array(spec["expected"]))))
        if not worst <= TOLERANCE:
            raise BuildError(f"ONNX Runtime from the layer answers up to {worst:.2g} away from scikit-learn")
        result["max_abs_difference"] = worst
    return result


def import_check(kind: Backend, python: list[str], site_dir: str, env: dict[str, str] | None = None) -> dict:
    """The kind's modules import from the layer alone, and its working check gives the right answer; the layer's
    lib/ must be on `env`'s LD_LIBRARY_PATH, as on Lambda."""
    spec = probe_spec(kind)
    return verify(kind, site_dir, spec, run_probe(python, site_dir, spec, env))


def cold_imports(kind: Backend, python: str, dirs: dict[str, Path], rounds: int) -> dict[str, list[float]]:
    """Interleaved cold-import timings (seconds) of each tree in `dirs`, one fresh process each."""
    timings: dict[str, list[float]] = {name: [] for name in dirs}
    spec = probe_spec(kind, check=False)
    for _ in range(rounds):
        for name, site in dirs.items():
            timings[name].append(run_probe([python], str(site), spec)["import_s"])
    return timings


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(numerator) / statistics.median(denominator)
