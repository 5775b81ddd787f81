"""Lambda handler: the predict handler (handlers/predict.py) on the boosting layer, for a scikit-learn pipeline that
wraps an XGBoost or LightGBM estimator: scikit-learn and both boosters, no pandas. Its own module so that the
handler names its layer (functions.json: one backend per handler)."""
from __future__ import annotations

from typing import Any

from . import predict


def handler(event: Any, context: Any) -> dict:
    return predict.handler(event, context)
