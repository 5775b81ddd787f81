"""Lambda handler: predictions from the packaged model (direct, Function URL or HTTP API v2)."""
from __future__ import annotations

import warnings
from typing import Any

from handlers import config, contract, runtime
from handlers.edge import serve
from handlers.model import load

BLAS_THREADS = runtime.configure_blas()
MODEL = load(config.model_dir())  # once per cold start; a bad model fails the INIT phase


def predict(request: dict) -> dict:
    spec, estimator = MODEL.spec, MODEL.estimator
    X = contract.parse_instances(request, spec)
    with warnings.catch_warnings():
        # Named features arrive as objects and are put in the model's column order; the array has no names.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        predictions = estimator.predict(X)
        probabilities = estimator.predict_proba(X) if "predict_proba" in spec.outputs else None
        scores = estimator.decision_function(X) if probabilities is None and "decision_function" in spec.outputs \
            else None
    if spec.task == "regressor":
        predictions = predictions.astype(float)
    return contract.answer(spec, predictions, probabilities, scores)


def handler(event: Any, context: Any) -> dict:
    return serve(event, predict)
