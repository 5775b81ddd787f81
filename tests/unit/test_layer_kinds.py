"""What a layer kind removes beyond the common slimming is imported by nothing the kind serves: read from the sources
of scikit-learn and pandas (the versions the layer is locked to, which the development environment has too), and
proven by importing every scikit-learn module and pandas with the removed modules made unimportable."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from support import refusing

from lambda_ml_bench.build.backends import BACKENDS

SKLEARN = BACKENDS["sklearn"]
# what the kind's reasons say the serving libraries do use, and only there
KNOWN_USES = {"scipy.signal": {"pandas/core/window/rolling.py", "pandas/core/generic.py",
                               "pandas/core/groupby/groupby.py"}}


def removed_modules() -> list[str]:
    """The removed paths as module names: scipy/signal is scipy.signal, tzdata* is tzdata."""
    return [pattern.rstrip("*").replace("/", ".") for pattern, _ in SKLEARN.remove]


def sources(package: str) -> list[Path]:
    root = Path(__import__(package).__file__).parent
    return [p for p in root.rglob("*.py") if "tests" not in p.relative_to(root).parts and p.name != "conftest.py"]


def test_no_source_of_scikit_learn_or_pandas_names_what_the_sklearn_layer_removes() -> None:
    found: dict[str, set[str]] = {}
    for package in ("sklearn", "pandas"):
        for path in sources(package):
            text = path.read_text(encoding="utf-8", errors="replace")
            for module in removed_modules():
                parent, _, name = module.rpartition(".")
                pattern = (rf"\b{re.escape(module)}\b" if not parent else
                           rf"\b{re.escape(module)}\b|from {re.escape(parent)} import [^\n]*\b{name}\b")
                if re.search(pattern, text):
                    rel = path.relative_to(Path(__import__(package).__file__).parent.parent).as_posix()
                    found.setdefault(module, set()).add(rel)
    assert {m: uses for m, uses in found.items() if uses - KNOWN_USES.get(m, set())} == {}, found


def test_every_scikit_learn_module_and_pandas_import_without_what_the_sklearn_layer_removes() -> None:
    probe = refusing(removed_modules()) + """
import importlib, pkgutil, warnings
warnings.simplefilter("ignore")
import pandas, sklearn
failed = []
for m in pkgutil.walk_packages(sklearn.__path__, "sklearn."):
    if ".tests" in m.name or m.name.endswith("conftest") or ".externals." in m.name or "_build_utils" in m.name:
        continue
    try:
        importlib.import_module(m.name)
    except ImportError as err:
        failed.append(f"{m.name}: {err}")
print("\\n".join(failed))
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == ""
