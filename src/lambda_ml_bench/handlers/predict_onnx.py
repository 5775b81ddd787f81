"""Lambda handler: predictions from the model's ONNX export with ONNX Runtime.

The predict handler's request, answer and errors (handlers/contract.py), with no scikit-learn, SciPy or skops on
its path: it runs on the onnx layer."""
from __future__ import annotations

from typing import Any

from . import config, contract
from .edge import serve
from .model import load_onnx

MODEL = load_onnx(config.model_dir(), threads=config.vcpus())  # once per cold start; a bad model fails INIT


def predict(request: dict) -> dict:
    spec = MODEL.spec
    if spec.onnx.get("input") == "columns":  # one input per column: numbers and string categories
        outputs = MODEL.session.run(None, contract.parse_instances(request, spec, columns=True))
    elif spec.onnx.get("input") == "float32":  # a booster's export: XGBoost reads features as float32 too
        X = contract.parse_instances(request, spec, codes=True)
        outputs = MODEL.session.run(None, {MODEL.input: X.astype("float32")})
    else:
        outputs = MODEL.session.run(None, {MODEL.input: contract.parse_instances(request, spec)})
    return contract.answer(spec, *contract.from_onnx(spec.task, spec.outputs, outputs, spec.onnx.get("score_column")))


def handler(event: Any, context: Any) -> dict:
    return serve(event, predict)
