"""Where things are: the repository, its build output, the download cache."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout: src/lambda_ml_bench/paths.py
SRC = REPO / "src"  # the library's import root
PACKAGE = SRC / "lambda_ml_bench"
DIST = REPO / "dist"  # build output (ignored by git)


def cache_dir() -> Path:
    """Downloads kept between builds: $LAYER_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, /lambda-ml-bench."""
    base = os.environ.get("LAYER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lambda-ml-bench")
    return Path(base)
