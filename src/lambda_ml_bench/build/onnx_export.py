"""The model exported to ONNX with skl2onnx (a build-time dependency only) and proven against scikit-learn.

`model.onnx` is shipped only when, on rows the model did not see, its labels equal scikit-learn's and every
probability (or score, or regression value) is within `TOLERANCE` of scikit-learn's. The input is float64, the
contract's own type, so no value the scikit-learn backend accepts overflows or rounds differently on the way in.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from lambda_ml_bench.handlers.contract import Schema

TOLERANCE = 1e-5  # largest difference from scikit-learn a shipped export may show
ONNX_FILE = "model.onnx"


class NotConvertible(Exception):
    """skl2onnx cannot convert the model faithfully; the reason says why, the scikit-learn backend still serves."""


@dataclass(frozen=True)
class Export:
    data: bytes  # the serialised ONNX model
    facts: dict  # what model.json records under "onnx"


def _register_boosters() -> None:
    """Teach skl2onnx the boosters' scikit-learn estimators, with onnxmltools' converters (their documented way)."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    classifier = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for model, alias, shapes, convert, options in (
            (XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes, convert_xgboost,
             classifier),
            (XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost, None),
            (LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes, convert_lightgbm,
             classifier),
            (LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes, convert_lightgbm,
             None)):
        update_registered_converter(model, alias, shapes, convert, options=options)


def _convert(estimator: Any, n_features: int, inputs: list[dict] | None = None, float32: bool = False) -> bytes:
    """The ONNX model: one float64 input of n_features columns (float32 for a pipeline wrapping a booster: their
    converters take no other), or (`inputs`, model.json's) one input per column named after it, float64 for a number
    and string for a category."""
    import skl2onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType
    from sklearn.base import is_classifier

    if float32:
        _register_boosters()
    # no ZipMap: it takes float only and turns a tensor into a list of dicts; the handler reads tensors
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    matrix = FloatTensorType if float32 else DoubleTensorType
    types = [("X", matrix([None, n_features]))] if inputs is None else [
        (i["name"], DoubleTensorType([None, 1]) if i["type"] == "number" else StringTensorType([None, 1]))
        for i in inputs]
    try:
        with warnings.catch_warnings():
            # skl2onnx reads SVC's probA_/probB_, which scikit-learn 1.9 flags as deprecated
            warnings.simplefilter("ignore", FutureWarning)
            onx = skl2onnx.to_onnx(estimator, initial_types=types, options=options,
                                   target_opset={"": 15, "ai.onnx.ml": 3} if float32 else None)
    except Exception as err:  # noqa: BLE001 - skl2onnx raises many types for what it cannot convert
        raise NotConvertible(f"skl2onnx {skl2onnx.__version__} cannot convert it: {str(err).splitlines()[0][:300]}")
    # Producer metadata names the converting library's version only: the same model gives the same bytes.
    return onx.SerializeToString(deterministic=True)


class BoosterReference:
    """A booster answering as the proof asks a scikit-learn model: its own predictions, as the handler gives them."""

    def __init__(self, booster: Any, spec: dict) -> None:
        from lambda_ml_bench.handlers.booster import BoosterModel
        from lambda_ml_bench.handlers.contract import ModelSpec

        self.model = BoosterModel(spec["format"], booster, ModelSpec.from_manifest({**spec, "onnx": {}}), None)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(X)[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(X)[1]


def _convert_booster(booster: Any, spec: dict) -> bytes:
    """An XGBoost or LightGBM booster as ONNX with onnxmltools: one float32 input (both converters take float32
    only; XGBoost itself reads features as float32, LightGBM as float64, so its proof is what decides)."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("X", FloatTensorType([None, spec["n_features"]]))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if spec["format"] == "xgboost":
                booster = booster.copy()  # the converter reads features only as f0, f1, ...: the input is by position
                booster.feature_names = None
                onx = onnxmltools.convert_xgboost(booster, initial_types=types, target_opset=15)
            else:
                onx = onnxmltools.convert_lightgbm(booster, initial_types=types, zipmap=False, target_opset=15)
    except Exception as err:  # noqa: BLE001 - the converters raise many types for what they cannot convert
        raise NotConvertible(f"onnxmltools {onnxmltools.__version__} cannot convert it: "
                             f"{str(err).splitlines()[0][:300] if str(err) else type(err).__name__}")
    return onx.SerializeToString(deterministic=True)


def outputs(data: bytes, X: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only, as the handler runs it
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    if isinstance(X, dict):
        return session.run(None, X)
    single = session.get_inputs()[0]
    dtype = np.float32 if single.type == "tensor(float)" else np.float64
    return session.run(None, {single.name: np.ascontiguousarray(X, dtype=dtype)})


def differences(estimator: Any, spec: dict, got: list[np.ndarray], X: np.ndarray) -> tuple[int, float, str, int | None]:
    """(rows whose label differs, largest difference of the compared values, what was compared, the column of a
    binary decision function's two that is its score)."""
    with warnings.catch_warnings():
        # rows arrive as arrays, in the model's column order, as the handlers give them
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return _differences(estimator, spec, got, X)


def _differences(estimator: Any, spec: dict, got: list[np.ndarray],
                 X: np.ndarray) -> tuple[int, float, str, int | None]:
    from lambda_ml_bench.handlers.contract import from_onnx

    task, outputs = spec["task"], tuple(spec["outputs"])
    if task == "regressor":
        predictions = from_onnx(task, outputs, got)[0]
        want = np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1)
        scale = np.maximum(1.0, np.abs(want))  # relative beyond 1: a regression's values have the target's units
        return 0, float(np.max(np.abs(predictions - want) / scale)), "predictions (relative beyond 1)", None
    columns: list[int | None] = [None]
    if "predict_proba" not in outputs and "decision_function" in outputs:
        want = np.asarray(estimator.decision_function(X), dtype=np.float64)
        if want.ndim == 1 and len(got) > 1 and got[1].ndim == 2 and got[1].shape[1] == 2:
            columns = [0, 1]  # a binary decision function: the proof finds which column is the score
    results = []
    for column in columns:
        predictions, probabilities, scores = from_onnx(task, outputs, got, column)
        labels = np.asarray(predictions).reshape(-1)
        mismatched = int(np.sum(labels.astype(str) != np.asarray(estimator.predict(X)).astype(str)))
        if probabilities is not None:
            value, want, what = probabilities, estimator.predict_proba(X), "probabilities"
        elif scores is not None:
            value, want, what = scores, estimator.decision_function(X), "scores"
        else:
            return mismatched, 0.0, "labels", None
        value, want = np.asarray(value, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if value.shape != want.shape:
            raise NotConvertible(f"the ONNX model gives {what} of shape {value.shape}, scikit-learn {want.shape}")
        results.append((mismatched, float(np.max(np.abs(value - want))), what, column))
    return min(results, key=lambda r: r[1])


def proof_rows(schema: Schema, rows: list[list], n: int = 20, missing: bool = False) -> list[list]:
    """The check rows, and for a typed export (or with `missing`: a booster's) more made from the first `n`: each
    column that may be missing missing, each category the encoder handles given a value it never saw. What the
    handler passes on for null and for an unknown category is proven, not assumed."""
    out = [list(r) for r in rows]
    if not (schema.typed or missing):
        return out
    for j, column in enumerate(schema.inputs):
        if column.missing:
            out += [[None if k == j else v for k, v in enumerate(r)] for r in rows[:n]]
        if column.type == "category" and column.unknown == "model":
            out += [["(a category never seen)" if k == j else v for k, v in enumerate(r)] for r in rows[:n]]
    return out


def export(estimator: Any, spec: dict, rows: list[list], checked_on: str) -> Export:
    """Convert, then prove on the rows (in the model's column order; None where missing); NotConvertible when either
    fails."""
    import onnx
    import onnxruntime
    import skl2onnx

    if any(i["type"] == "boolean" for i in spec["inputs"]):
        raise NotConvertible("it takes boolean inputs, which the export does not carry")
    schema = Schema.from_inputs(spec["inputs"], spec["frame"])
    booster = spec.get("format") in ("xgboost", "lightgbm")
    wrapped = spec.get("backend") == "boosting"  # a scikit-learn pipeline wrapping a booster
    if wrapped and schema.typed:
        raise NotConvertible("a pipeline wrapping a booster is exported with one float32 matrix, not typed columns")
    rows = proof_rows(schema, rows, missing=booster)
    X_check = schema.to_model(rows)
    if booster:  # categories as their codes, as the booster reads them
        data, estimator = _convert_booster(estimator, spec), BoosterReference(estimator, spec)
        X_check = schema.codes([list(c) for c in zip(*rows)])
    else:
        data = _convert(estimator, spec["n_features"], spec["inputs"] if schema.typed else None, float32=wrapped)
    try:
        got = outputs(data, schema.feed([list(c) for c in zip(*rows)]) if schema.typed and not booster else X_check)
    except Exception as err:  # noqa: BLE001 - onnxruntime refuses what it cannot run
        raise NotConvertible(f"onnxruntime cannot run the converted model: {str(err).splitlines()[0][:300]}")
    mismatched, worst, what, score_column = differences(estimator, spec, got, X_check)
    reference = spec["format"] if booster else "scikit-learn"
    if mismatched:
        raise NotConvertible(f"{mismatched} of {len(X_check)} labels differ from {reference}'s ({checked_on})")
    if not worst <= TOLERANCE:
        hint = "; isotonic calibration is a known cause" if what == "probabilities" and not booster else ""
        raise NotConvertible(f"its {what} differ from {reference}'s by up to {worst:.2g} (at most {TOLERANCE:g} "
                             f"is faithful; {checked_on}){hint}")
    return Export(data, {
        "file": ONNX_FILE, "sha256": hashlib.sha256(data).hexdigest(),
        "input": "float32" if booster or wrapped else "columns" if schema.typed else "float64",
        "max_abs_difference": worst, "compared": what, "tolerance": TOLERANCE, "checked_rows": len(X_check),
        "checked_on": checked_on, "onnx": onnx.__version__,
        **({"onnxmltools": __import__("onnxmltools").__version__} if booster else {"skl2onnx": skl2onnx.__version__}),
        "onnxruntime": onnxruntime.__version__,
        **({"score_column": score_column} if score_column is not None else {}),
    })


def synthetic_rows(estimator: Any, n_features: int, n: int = 1000) -> tuple[np.ndarray, str]:
    """Rows to prove an export on when no held-out data is given, drawn (seeded, so the proof repeats) from what the
    model's first step learnt of its data: a StandardScaler's means and scales, a MinMaxScaler's ranges. Without such
    a step nothing says where the data lies, and rows from nowhere prove nothing: NotConvertible, asking for data."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    rng = np.random.default_rng(0)
    first = estimator[0] if isinstance(estimator, Pipeline) else estimator
    if isinstance(first, StandardScaler) and first.mean_ is not None and first.scale_ is not None:
        return (rng.standard_normal((n, n_features)) * first.scale_ + first.mean_,
                f"{n} synthetic rows from the model's StandardScaler statistics")
    if isinstance(first, MinMaxScaler):
        return (rng.uniform(first.data_min_, first.data_max_, (n, n_features)),
                f"{n} synthetic rows within the model's MinMaxScaler ranges")
    raise NotConvertible("no rows to prove it on: the model does not start with a scaler whose statistics say where "
                         "its data lies; pass held-out rows with --check-data FILE.csv (CHECK_DATA= through make)")


def probe_case() -> dict:
    """What the onnx layer's import check runs: a small scaled, calibrated SVC as ONNX, rows, and scikit-learn's
    probabilities for them (the build compares the layer's answer with these)."""
    import base64

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.datasets import make_classification
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    model = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False)).fit(X[:150], y[:150])
    data = _convert(model, 8)
    return {"model": base64.b64encode(data).decode(), "rows": X[150:].tolist(),
            "expected": model.predict_proba(X[150:]).tolist()}
