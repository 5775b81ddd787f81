"""Gradient boosting models from their own files: XGBoost's JSON or UBJSON, LightGBM's text. These files hold the
trees and their parameters, no code: loading one runs none, so no trust list is needed. Loaded like a skops file
(model.json read and checked, sha256 compared, size capped), then checked against model.json."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import contract
from .config import memory_mb
from .contract import ModelSpec
from .errors import ModelLoadError
from .model import MAX_UNPACKED_MB, _read_checked, read_spec

# The objectives served, by booster: what a prediction is (the class of highest probability, or the value).
# Others (ranking, survival, multi:softmax's bare labels) are refused at import with their name.
XGBOOST_OBJECTIVES = {"binary:logistic": "classifier", "multi:softprob": "classifier",
                      "reg:squarederror": "regressor", "reg:squaredlogerror": "regressor",
                      "reg:absoluteerror": "regressor", "reg:pseudohubererror": "regressor",
                      "count:poisson": "regressor", "reg:gamma": "regressor", "reg:tweedie": "regressor"}
LIGHTGBM_OBJECTIVES = {"binary": "classifier", "multiclass": "classifier", "multiclassova": "classifier",
                       "regression": "regressor", "regression_l1": "regressor", "huber": "regressor",
                       "fair": "regressor", "poisson": "regressor", "quantile": "regressor", "mape": "regressor",
                       "gamma": "regressor", "tweedie": "regressor"}


@dataclass(frozen=True)
class BoosterModel:
    backend: str  # xgboost or lightgbm
    booster: Any  # xgboost.Booster or lightgbm.Booster
    spec: ModelSpec
    threads: int | None

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The booster's own prediction: probabilities (one column for a binary classifier) or values."""
        if self.backend == "xgboost":
            return self.booster.inplace_predict(X, validate_features=False)
        return self.booster.predict(X, num_threads=self.threads or 0, validate_features=False)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, probabilities) as the contract answers them."""
        return answer_of(self.spec, self.raw(X))

    def answer(self, request: dict) -> dict:
        """A request, read by the contract, answered as the contract says (what the handlers serve)."""
        return contract.answer(self.spec, *self.predict(contract.parse_instances(request, self.spec, codes=True)))


def answer_of(spec: ModelSpec, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    raw = np.asarray(raw, dtype=np.float64)
    if spec.task == "regressor":
        return raw.reshape(-1), None
    probabilities = np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw
    return np.asarray(spec.classes)[probabilities.argmax(axis=1)], probabilities


def facts(backend: str, booster: Any) -> dict:
    """What model.json records of a booster: task, features and their names, classes, the objective."""
    if backend == "xgboost":
        config = json.loads(booster.save_config())["learner"]
        objective = config["objective"]["name"]
        n_classes = int(config["learner_model_param"].get("num_class", "0"))
        n_features, names = booster.num_features(), booster.feature_names
        categories: dict[int, list[str]] = {}  # XGBoost's file keeps no category names: its `c` features take codes
        task = XGBOOST_OBJECTIVES.get(objective)
        served = XGBOOST_OBJECTIVES
    else:
        dump = booster.dump_model(num_iteration=1)
        objective = dump["objective"].split()[0]
        n_classes, n_features = int(dump["num_class"]), booster.num_feature()
        names = dump["feature_names"]
        if names == [f"Column_{k}" for k in range(n_features)]:  # what LightGBM calls unnamed columns
            names = None
        categories = _lightgbm_categories(booster, dump)
        task = LIGHTGBM_OBJECTIVES.get(objective)
        served = LIGHTGBM_OBJECTIVES
    if task is None:
        raise ValueError(f"its objective {objective!r} is not served (served: {', '.join(served)})")
    classes = list(range(max(n_classes, 2))) if task == "classifier" else None
    inputs = [{"name": names[k] if names else None, "type": "number", "missing": True} for k in range(n_features)]
    for k, known in categories.items():  # a string category, its code its place in the list; unknown is missing
        inputs[k] = {**inputs[k], "type": "category", "categories": known, "unknown": "model"}
    return {"task": task, "n_features": int(n_features), "feature_names": list(names) if names else None,
            "classes": classes, "outputs": ["predict_proba"] if task == "classifier" else [],
            "objective": objective, "inputs": inputs}


def _lightgbm_categories(booster: Any, dump: dict) -> dict[int, list[str]]:
    """{feature index: its categories} for a LightGBM model fitted on a DataFrame's string categories (the file keeps
    them, in the order of its categorical features; a code is a place in the list, as pandas gives it). Categorical
    features fitted on integer codes keep taking them as numbers, as in the model's own predict."""
    given = booster.params.get("categorical_feature") or []
    indices = [int(k) for k in (given.split(",") if isinstance(given, str) else given) if str(k).strip()]
    lists = dump.get("pandas_categorical") or []
    if not lists:
        return {}
    if len(lists) != len(indices) or not all(isinstance(c, str) for known in lists for c in known):
        raise ValueError("its pandas categories are not strings, one list per categorical feature: give the model "
                         "integer codes instead")
    return dict(zip(indices, (list(known) for known in lists)))


def read_booster(backend: str, path: Path) -> Any:
    """A booster from its own file (a fault is ValueError)."""
    try:
        if backend == "xgboost":
            import xgboost

            return xgboost.Booster(model_file=str(path))
        import lightgbm

        return lightgbm.Booster(model_file=str(path))
    except Exception as err:  # noqa: BLE001 - each library raises its own error types for a malformed file
        raise ValueError(f"{backend} cannot read it: {type(err).__name__}: {str(err)[:300]}") from None


def load_booster(model_dir: Path, backend: str, threads: int | None = None) -> BoosterModel:
    spec = read_spec(model_dir)
    if spec.format != backend:
        raise ModelLoadError(f"{spec.name} is a {spec.format} model: the predict-{spec.backend} handler serves it, "
                             f"not the {backend} one")
    path = model_dir / spec.file
    data = _read_checked(path, spec.sha256)
    cap = min(MAX_UNPACKED_MB, (memory_mb() or 2 * MAX_UNPACKED_MB) // 2)
    if len(data) > cap * 1024 * 1024:
        raise ModelLoadError(f"{path} is {len(data) / 2**20:,.0f} MiB; this function loads at most {cap:,} MiB "
                             "(half its memory): raise its memory size")
    try:
        booster = read_booster(backend, path)
        found = facts(backend, booster)
    except ValueError as err:
        raise ModelLoadError(f"{path}: {err}") from None
    if [i.categories for i in spec.schema.inputs] != [i.get("categories") and tuple(i["categories"])
                                                      for i in found["inputs"]]:
        raise ModelLoadError("model.json's categories are not the model's: rebuild the package (make package)")
    for key in ("task", "n_features", "feature_names", "classes", "outputs"):
        want = getattr(spec, key)
        want = list(want) if isinstance(want, tuple) else want
        if found[key] != want:
            raise ModelLoadError(f"model.json says {key} is {want!r}, but the model has {found[key]!r}: rebuild the "
                                 "package (make package)")
    if backend == "xgboost" and threads:
        booster.set_param({"nthread": threads})
    return BoosterModel(backend, booster, spec, threads)
