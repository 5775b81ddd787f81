"""The function package: deterministic, and the handlers run from it and the layer alone, as on Lambda."""
from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from support import REPO

from lambda_ml_bench.build import archive
from lambda_ml_bench.build.interpreters import find_python
from lambda_ml_bench.build.package import build_package
from lambda_ml_bench.build.platforms import RUNTIMES, host_architecture

pytestmark = pytest.mark.integration
HOST = host_architecture()

# Run inside a clean python3.13 -S: sys.path is what Lambda gives, /var/task then /opt/python.
_INVOKE = r"""
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from handlers import benchmark, predict
class Context:
    def get_remaining_time_in_millis(self):
        return 60_000
event = json.loads(sys.argv[3])
print(json.dumps({"predict": predict.handler(event, Context()),
                  "benchmark": benchmark.handler({"cycles": 2}, Context()),
                  "modules": sorted(m.split(".")[0] for m in sys.modules if m.split(".")[0] in
                                    ("pytest", "prettytable", "wcwidth", "pip", "setuptools"))}))
"""


@pytest.fixture(scope="module")
def lambda_tree(
    package: dict, dist: Path, unpacked: dict, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    task = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(dist / "function" / package["zip"]["file"]) as zf:
        zf.extractall(task)
    return task, unpacked["sklearn"][HOST.name]


def test_package_holds_handlers_model_and_skops_only(package: dict, dist: Path, model_dir: Path, lambda_tree) -> None:
    task, _ = lambda_tree
    tops = {p.name for p in task.iterdir()}
    assert {"handlers", "model", "skops", "packaging"} <= tops
    assert not tops & {"numpy", "scipy", "sklearn", "boto3", "bin", "tests"}
    assert (task / "model" / "model.skops").exists() and (task / "handlers" / "__pycache__").is_dir()
    assert (task / "model" / "model.onnx").exists() and package["model"]["onnx_exported"] is True
    assert package["handlers"] == {"benchmark": "handlers.benchmark.handler", "predict": "handlers.predict.handler",
                                   "predict-onnx": "handlers.predict_onnx.handler"}
    zipped = dist / "function" / package["zip"]["file"]
    assert archive.digest(zipped) == (package["zip"]["sha256"], package["zip"]["sha256_base64"])
    assert package["model"]["sha256"] == json.loads((model_dir / "model.json").read_text())["sha256"]


def test_package_rebuilds_byte_identical(package: dict, model_dir: Path, tmp_path: Path) -> None:
    again = build_package(
        RUNTIMES["3.13"], model_dir, out_dir=tmp_path / "out", work_dir=tmp_path / "work", say=lambda _: None
    )
    assert again["zip"]["sha256"] == package["zip"]["sha256"]


def test_handlers_run_from_the_package_and_layer_alone(lambda_tree) -> None:
    python = find_python("3.13")
    if python is None:
        pytest.skip("no Python 3.13")
    task, opt = lambda_tree
    event = json.loads((REPO / "tests" / "events" / "predict-function-url.json").read_text())
    env = {"PATH": os.defpath, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769", "LAMBDA_TASK_ROOT": str(task)}
    proc = subprocess.run(
        [python, "-S", "-B", "-c", _INVOKE, str(task), str(opt), json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["predict"]["statusCode"] == 200
    assert json.loads(out["predict"]["body"])["predictions"] == [0, 1]
    assert out["benchmark"]["cycles_done"] == 2
    assert out["benchmark"]["environment"]["blas_threads_set"] == 1
    assert out["modules"] == []  # nothing from the development environment leaked in


_INVOKE_ONNX = r"""
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from handlers import predict_onnx
print(json.dumps({"predict": predict_onnx.handler(json.loads(sys.argv[3]), None),
                  "modules": sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "skops"})}))
"""


def test_the_onnx_handler_runs_from_the_package_and_the_onnx_layer_alone(lambda_tree, unpacked: dict) -> None:
    """The same package on the onnx layer, which holds no scikit-learn: nothing of it is needed or imported."""
    python = find_python("3.13")
    if python is None:
        pytest.skip("no Python 3.13")
    task, _ = lambda_tree
    event = json.loads((REPO / "tests" / "events" / "predict-function-url.json").read_text())
    proc = subprocess.run([python, "-S", "-B", "-c", _INVOKE_ONNX, str(task), str(unpacked["onnx"][HOST.name]),
                           json.dumps(event)], env={"PATH": os.defpath, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["predict"]["statusCode"] == 200 and json.loads(out["predict"]["body"])["predictions"] == [0, 1]
    assert out["modules"] == []
