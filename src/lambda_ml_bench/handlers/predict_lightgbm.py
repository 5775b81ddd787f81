"""Lambda handler: predictions from a LightGBM model file with LightGBM itself (the lightgbm layer: no scikit-learn).

The predict handler's request, answer and errors (handlers/contract.py)."""
from __future__ import annotations

from typing import Any

from . import config, contract
from .booster import load_booster
from .edge import serve

MODEL = load_booster(config.model_dir(), "lightgbm", threads=config.vcpus())  # once per cold start; bad: INIT fails


def predict(request: dict) -> dict:
    return contract.answer(MODEL.spec, *MODEL.predict(contract.parse_instances(request, MODEL.spec)))


def handler(event: Any, context: Any) -> dict:
    return serve(event, predict)
