"""Lambda handler: predictions from the packaged model (direct, Function URL or HTTP API v2)."""
from __future__ import annotations

from typing import Any

from handlers import config, runtime
from handlers.edge import serve
from handlers.model import load
from handlers.payload import parse_instances

BLAS_THREADS = runtime.configure_blas()
MODEL = load(config.model_dir())  # once per cold start; a bad model fails the INIT phase


def predict(request: dict) -> dict:
    X = parse_instances(request, MODEL.n_features)
    probabilities = MODEL.estimator.predict_proba(X)
    # The class of highest probability, so predictions and probabilities never disagree, and the
    # kernel is evaluated once per row instead of twice.
    predictions = MODEL.estimator.classes_[probabilities.argmax(axis=1)]
    return {"predictions": predictions.tolist(), "probabilities": probabilities.tolist(),
            "model": MODEL.identity()}


def handler(event: Any, context: Any) -> dict:
    return serve(event, predict)
