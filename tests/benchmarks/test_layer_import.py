"""Cold import of numpy + scipy + sklearn.svm from the built layer, with and without bytecode."""
from __future__ import annotations

from pathlib import Path

import pytest

from lambda_ml_bench.build import importcheck
from lambda_ml_bench.build.backends import BACKENDS
from lambda_ml_bench.build.interpreters import find_python
from lambda_ml_bench.build.platforms import host_architecture
from lambda_ml_bench.build.report import without_bytecode

pytestmark = pytest.mark.integration
HOST = host_architecture()


@pytest.fixture(scope="module")
def trees(unpacked: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    site = unpacked["sklearn"][HOST.name]
    return {"bytecode": site, "no-bytecode": without_bytecode(site, tmp_path_factory.mktemp("plain") / "python")}


@pytest.fixture(scope="module")
def python313() -> str:
    python = find_python("3.13")
    if python is None:
        pytest.skip("no Python 3.13 on this machine")
    return python


@pytest.mark.benchmark(group="layer-cold-import")
@pytest.mark.parametrize("variant", ["bytecode", "no-bytecode"])
def test_cold_import(benchmark, trees: dict[str, Path], python313: str, built: dict, variant: str) -> None:
    manifest = built["sklearn"][HOST.name]
    benchmark.extra_info.update({
        "architecture": HOST.name, "emulated": False, "variant": variant,
        "layer": manifest["layer"], "versions": {k: v["version"] for k, v in manifest["packages"].items()},
    })
    spec = importcheck.probe_spec(BACKENDS["sklearn"], check=False)
    result = benchmark.pedantic(importcheck.run_probe, args=([python313], str(trees[variant]), spec),
                                rounds=5, iterations=1, warmup_rounds=1)
    assert result["machine"] == HOST.uname
    benchmark.extra_info["import_s_in_process"] = result["import_s"]


_HANDLER_PROBE = r"""
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
started = time.perf_counter()
__import__("handlers." + sys.argv[3])
print(json.dumps({"import_s": time.perf_counter() - started}))
"""


@pytest.fixture(scope="module")
def task_trees(package: dict, dist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import zipfile

    task = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(dist / "function" / package["zip"]["file"]) as zf:
        zf.extractall(task)
    return {"bytecode": task, "no-bytecode": without_bytecode(task, tmp_path_factory.mktemp("task-plain") / "t")}


@pytest.mark.parametrize("variant", ["bytecode", "no-bytecode"])
@pytest.mark.parametrize("handler", ["benchmark", "predict"])
def test_handler_cold_start(benchmark, trees, task_trees, python313: str, handler: str, variant: str) -> None:
    """A fresh interpreter importing the handler module (and, for predict, loading the model)."""
    import json
    import os
    import subprocess

    benchmark.group = f"handler-cold-start-{handler}"
    env = {"PATH": os.defpath, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}
    cmd = [python313, "-S", "-B", "-c", _HANDLER_PROBE, str(task_trees[variant]), str(trees[variant]), handler]

    def cold() -> dict:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    benchmark.extra_info.update({"architecture": HOST.name, "emulated": False, "variant": variant, "handler": handler})
    result = benchmark.pedantic(cold, rounds=3, iterations=1)
    benchmark.extra_info["import_s_in_process"] = result["import_s"]
