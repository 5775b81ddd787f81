"""Lambda handler: predictions from the model's ONNX export with ONNX Runtime.

The predict handler's request, answer and errors (handlers/contract.py), with no scikit-learn, SciPy or skops on
its path: it runs on the onnx layer."""
from __future__ import annotations

from typing import Any

import numpy as np

from handlers import config, contract
from handlers.edge import serve
from handlers.model import load_onnx

MODEL = load_onnx(config.model_dir(), threads=config.vcpus())  # once per cold start; a bad model fails INIT


def predict(request: dict) -> dict:
    spec = MODEL.spec
    X = contract.parse_instances(request, spec)
    outputs = MODEL.session.run(None, {MODEL.input: X})
    if spec.task == "regressor":
        return contract.answer(spec, np.asarray(outputs[0], dtype=np.float64).reshape(-1))
    labels, second = outputs[0], (outputs[1] if len(outputs) > 1 else None)
    if "predict_proba" in spec.outputs:
        return contract.answer(spec, labels, probabilities=second)
    if "decision_function" in spec.outputs and second is not None:
        # a binary decision function is one score per row; the export gives both columns (see its proof)
        scores = second[:, 1] if second.ndim == 2 and second.shape[1] == 2 and len(spec.classes or ()) == 2 else second
        return contract.answer(spec, labels, scores=scores)
    return contract.answer(spec, labels)


def handler(event: Any, context: Any) -> dict:
    return serve(event, predict)
