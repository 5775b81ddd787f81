"""Cold import of numpy + scipy + sklearn.svm from the built layer, with and without bytecode."""
from __future__ import annotations

from pathlib import Path

import pytest

from layer_build import importcheck
from layer_build.interpreters import find_python
from layer_build.platforms import host_architecture
from layer_build.report import without_bytecode

pytestmark = pytest.mark.integration
HOST = host_architecture()


@pytest.fixture(scope="module")
def trees(unpacked: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    site = unpacked[HOST.name]
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
    manifest = built[HOST.name]
    benchmark.extra_info.update({
        "architecture": HOST.name, "emulated": False, "variant": variant,
        "layer": manifest["layer"], "versions": {k: v["version"] for k, v in manifest["packages"].items()},
    })
    result = benchmark.pedantic(importcheck.run_probe, args=([python313], str(trees[variant]), False),
                                rounds=5, iterations=1, warmup_rounds=1)
    assert result["machine"] == HOST.uname
    benchmark.extra_info["import_s_in_process"] = result["import_s"]
