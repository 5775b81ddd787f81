"""Lambda handler: predictions from the packaged model (direct, Function URL or HTTP API v2)."""
from __future__ import annotations

import warnings
from typing import Any

from . import config
from .model import reach_apart

reach_apart(config.model_dir())  # first: a model fed a DataFrame needs pandas on sys.path before scikit-learn looks

from . import contract, runtime  # noqa: E402
from .edge import serve  # noqa: E402
from .errors import PayloadError  # noqa: E402
from .model import load  # noqa: E402

BLAS_THREADS = runtime.configure_blas()
MODEL = load(config.model_dir())  # once per cold start; a bad model fails the INIT phase
if MODEL.spec.schema.frame:
    import pandas  # noqa: F401 - rows reach this model as a DataFrame: imported in INIT, not in the first request


def _predicts_by_argmax(estimator: Any) -> bool:
    """True for classifiers whose `predict` is the class of highest `predict_proba` (their code says so): their
    predictions then come from the probabilities, so the model is evaluated once per row instead of twice."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    return isinstance(final, (CalibratedClassifierCV, RandomForestClassifier, ExtraTreesClassifier,
                              DecisionTreeClassifier))


ARGMAX = "predict_proba" in MODEL.spec.outputs and _predicts_by_argmax(MODEL.estimator)


def predict(request: dict) -> dict:
    spec, estimator = MODEL.spec, MODEL.estimator
    X = contract.parse_instances(request, spec)
    with warnings.catch_warnings():
        # Named features arrive as objects and are put in the model's column order; the array has no names.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        try:
            probabilities = estimator.predict_proba(X) if "predict_proba" in spec.outputs else None
            predictions = estimator.classes_[probabilities.argmax(axis=1)] if ARGMAX else estimator.predict(X)
            scores = estimator.decision_function(X) if probabilities is None and "decision_function" in spec.outputs \
                else None
        except ValueError as err:  # what the contract let through and the model's own checks refuse: the caller's
            raise PayloadError("instances", f"the model refuses them: {err}") from None
    if spec.task == "regressor":
        predictions = predictions.astype(float)
    return contract.answer(spec, predictions, probabilities, scores)


def handler(event: Any, context: Any) -> dict:
    return serve(event, predict)
