"""Lambda handler: predictions from a LightGBM model file with LightGBM itself, on the lightgbm layer (no scikit-learn);
the predict handler's request, answer and errors (handlers/contract.py, handlers/booster.py)."""
from __future__ import annotations

from typing import Any

from . import config
from .booster import load_booster
from .edge import serve

MODEL = load_booster(config.model_dir(), "lightgbm", threads=config.vcpus())  # once per cold start; bad: INIT fails


def handler(event: Any, context: Any) -> dict:
    return serve(event, MODEL.answer)
