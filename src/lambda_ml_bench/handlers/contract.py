"""One request and response contract for any model: what `model.json` must say, how instances are read, what
an answer holds.

Request: `{"instances": [[...], ...]}`, or, when the model knows its feature names,
`{"instances": [{"name": value, ...}, ...]}`. Each value is what model.json's `inputs` say of its column: a number,
a string of a category, or a boolean; `null` where the column may be missing (NaN to the model).

Answer: `predictions` (class labels as the model's `classes_` hold them, or floats for a regressor), `probabilities`
with `classes` when the model has `predict_proba`, `scores` when it only has `decision_function`, and `model` (name,
version, sha256).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ModelLoadError, PayloadError
from .payload import json_type, reject_unknown

MAX_ROWS = 10_000  # rows per prediction request
MAX_ABS_VALUE = 1e100  # larger values overflow scalers and kernels into NaN
TASKS = ("classifier", "regressor")
OUTPUTS = ("predict_proba", "decision_function")
# model.json: every key, and the type its value must have
MANIFEST_KEYS = {"name": str, "version": str, "sha256": str, "format": str, "trusted_types": list, "task": str,
                 "n_features": int, "feature_names": (list, type(None)), "classes": (list, type(None)),
                 "outputs": list, "sklearn": (str, type(None)), "onnx": dict, "inputs": list, "frame": bool}
# model.json's "format": the file the model comes in, and the backend that serves it natively. A skops file is
# model.skops; a booster's own file keeps its format's name (model.json is the manifest's).
# ("boosting" serves a skops pipeline wrapping a booster: model.json's "backend" says so)
FORMATS = {"skops": ("sklearn", ("model.skops",)),
           "xgboost": ("xgboost", ("model.xgboost.json", "model.xgboost.ubj")),
           "lightgbm": ("lightgbm", ("model.lightgbm.txt",))}
INPUT_TYPES = ("number", "category", "boolean")
ONNX_TYPES = {"float64": "tensor(double)", "float32": "tensor(float)"}
UNKNOWN = ("error", "model")  # a category the model was not fitted with: refused here (its encoder would raise), or
# given to the model (its encoder ignores it, or maps it to an infrequent or encoded value)


@dataclass(frozen=True)
class Input:
    """One column the model takes (model.json's `inputs`)."""

    name: str | None
    type: str  # one of INPUT_TYPES
    missing: bool  # null allowed (NaN to the model)
    categories: tuple[str, ...] | None = None  # a category's known values
    unknown: str | None = None  # one of UNKNOWN, for a category

    def rule(self) -> str:
        what = {"number": "a number", "boolean": "true or false",
                "category": "a string (a category)"}[self.type]
        return what + (" or null" if self.missing else "")


@dataclass(frozen=True)
class Schema:
    """What a request's rows must hold, column by column, and how they reach the model: a float64 array when every
    column is a number (NaN where missing), a pandas DataFrame of the fitted column order and dtypes when the model
    was fitted on one and needs it (`frame`), else an array of objects."""

    inputs: tuple[Input, ...]
    frame: bool

    @classmethod
    def from_inputs(cls, inputs: Any, frame: Any) -> Schema:
        if not isinstance(inputs, list) or not isinstance(frame, bool):
            raise ModelLoadError("model.json's 'inputs' must be a list and 'frame' a boolean")
        out = []
        for k, item in enumerate(inputs):
            if not isinstance(item, dict) or item.get("type") not in INPUT_TYPES \
                    or not isinstance(item.get("missing"), bool) or not isinstance(item.get("name"), (str, type(None))):
                raise ModelLoadError(f"model.json's inputs[{k}] must have a name, a type ({', '.join(INPUT_TYPES)}) "
                                     "and missing (a boolean): rebuild the package (make package)")
            categories = item.get("categories")
            if item["type"] == "category" and not (
                    isinstance(categories, list) and categories and all(isinstance(c, str) for c in categories)
                    and item.get("unknown") in UNKNOWN):
                raise ModelLoadError(f"model.json's inputs[{k}] is a category without its categories (strings) and "
                                     f"what an unknown one gets ({', '.join(UNKNOWN)})")
            out.append(Input(item["name"], item["type"], item["missing"],
                             tuple(categories) if item["type"] == "category" else None,
                             item.get("unknown") if item["type"] == "category" else None))
        if frame and any(i.name is None for i in out):
            raise ModelLoadError("model.json says the model takes a DataFrame, but not every input has a name")
        return cls(tuple(out), frame)

    @property
    def typed(self) -> bool:
        """An ONNX export of this model takes one input per column (categories, or a DataFrame it needs) rather than
        one float64 matrix."""
        return self.frame or any(i.type != "number" for i in self.inputs)

    @property
    def numbers(self) -> bool:
        """Every column a number (some may be missing), as an array: read in one pass, like a plain one."""
        return not self.typed

    @property
    def plain(self) -> bool:
        """Every column a number that may not be missing: the fast path of one float64 array."""
        return not self.frame and all(i.type == "number" and not i.missing for i in self.inputs)

    def check(self, rows: list[list]) -> list[list]:
        """The rows' columns, each value checked against its input; PayloadError names the first that breaks."""
        columns = [list(c) for c in zip(*rows)]
        for j, (column, spec) in enumerate(zip(columns, self.inputs)):
            allowed = {"number": {int, float}, "boolean": {bool}, "category": {str}}[spec.type]
            if spec.missing:
                allowed = allowed | {type(None)}
            if not set(map(type, column)) <= allowed:
                i = next(i for i, v in enumerate(column) if type(v) not in allowed)
                raise PayloadError(self._field(i, j), f"must be {spec.rule()}, not {json_type(column[i])}")
            if spec.type == "number":
                columns[j] = self._check_numbers(column, j)
            elif spec.type == "category" and spec.unknown == "error":
                known = set(spec.categories)
                if not {v for v in column if v is not None} <= known:
                    i = next(i for i, v in enumerate(column) if v is not None and v not in known)
                    shown = ", ".join(spec.categories[:20]) + (", ..." if len(spec.categories) > 20 else "")
                    raise PayloadError(self._field(i, j), f"is {column[i]!r}, a category the model was not fitted "
                                                          f"with (it knows {shown})")
        return columns

    def _field(self, i: int, j: int) -> str:
        name = self.inputs[j].name
        return f"instances[{i}].{name}" if name is not None else f"instances[{i}][{j}]"

    def _check_numbers(self, column: list, j: int) -> np.ndarray:
        """The column as float64 (NaN where null), every value given finite and at most MAX_ABS_VALUE."""
        try:
            array = _floats(column)
        except OverflowError:
            raise PayloadError(self._field(0, j), "holds an integer too large for a 64-bit float") from None
        given = np.fromiter((v is not None for v in column), dtype=bool, count=len(column))
        bad = given & (~np.isfinite(array) | (np.abs(np.where(np.isfinite(array), array, 0)) > MAX_ABS_VALUE))
        if bad.any():
            raise PayloadError(self._field(int(np.flatnonzero(bad)[0]), j),
                               f"must be a finite number at most {MAX_ABS_VALUE:g} in magnitude")
        return array

    def build(self, columns: list):
        """The columns (checked, or a probe's) as the model takes them."""
        if self.frame:
            import pandas  # only a model fitted on a DataFrame that needs one imports it

            return pandas.DataFrame({i.name: _floats(c) if i.type == "number" else
                                     (np.array(c, dtype=bool) if i.type == "boolean" and None not in c
                                      else _objects(c, np.nan))
                                     for i, c in zip(self.inputs, columns)})
        if all(i.type == "number" for i in self.inputs):
            return np.column_stack([_floats(c) for c in columns]) if columns else np.empty((0, 0))
        return np.column_stack([_objects(c, np.nan) for c in columns])

    def to_model(self, rows: list[list]):
        """Rows (checked or not) as the model takes them."""
        return self.build([list(c) for c in zip(*rows)])

    def codes(self, columns: list) -> np.ndarray:
        """The checked columns as one float64 matrix, a category as its place among the known ones (NaN where
        missing or unknown): how a gradient booster fitted on a DataFrame's categories reads them."""
        out = []
        for spec, column in zip(self.inputs, columns):
            if spec.type == "category":
                place = {c: float(k) for k, c in enumerate(spec.categories)}
                column = [place.get(v, np.nan) for v in column]
            out.append(_floats(column))
        return np.column_stack(out)

    def feed(self, columns: list[list]) -> dict[str, np.ndarray]:
        """The checked columns as an ONNX export with one input per column takes them (its inputs are named after
        them): numbers float64 (NaN where missing), categories strings ("" where missing, a value no category has:
        the export's proof shows the model answers it as it answers a missing one)."""
        return {spec.name: (_floats(column) if spec.type == "number" else _objects(column, "")).reshape(-1, 1)
                for spec, column in zip(self.inputs, columns)}


def _floats(column) -> np.ndarray:
    """A number column as float64, NaN where null (a column check() has converted already is returned as it is)."""
    if isinstance(column, np.ndarray):
        return column
    return np.array([np.nan if v is None else v for v in column], dtype=np.float64)


def _objects(column: list, missing: Any) -> np.ndarray:
    """A column of strings or booleans as an array of objects, `missing` where null."""
    out = np.empty(len(column), dtype=object)
    out[:] = [missing if v is None else v for v in column]
    return out


@dataclass(frozen=True)
class ModelSpec:
    """What model.json says the model is; the handler checks the loaded model against it at INIT."""

    name: str
    version: str
    sha256: str
    task: str
    n_features: int
    feature_names: tuple[str, ...] | None
    classes: tuple | None
    outputs: tuple[str, ...]
    trusted_types: tuple[str, ...]
    sklearn: str | None
    onnx: dict  # {"exported": True, "file", "sha256", ...} or {"exported": False, "reason"}
    schema: Schema
    format: str = "skops"  # one of FORMATS
    file: str = "model.skops"  # the model's file in the model folder

    own_backend: str | None = None  # model.json's "backend", where it is not the format's (a pipeline of boosters)

    @property
    def backend(self) -> str:
        """The backend that serves the model's own file (functions.json's backends)."""
        return self.own_backend or FORMATS[self.format][0]

    @property
    def backends(self) -> tuple[str, ...]:
        """Every backend whose predict handler serves this model: its own, and ONNX Runtime when it is exported."""
        return (self.backend, "onnx") if self.onnx.get("exported") else (self.backend,)

    @classmethod
    def from_manifest(cls, manifest: Any) -> ModelSpec:
        if not isinstance(manifest, dict):
            raise ModelLoadError(f"model.json must hold an object, not {json_type(manifest)}")
        for key, kind in MANIFEST_KEYS.items():
            if key not in manifest:
                raise ModelLoadError(f"model.json has no {key!r}: rebuild the package (make package)")
            if not isinstance(manifest[key], kind) or (isinstance(manifest[key], bool) and kind is not bool):
                raise ModelLoadError(f"model.json's {key!r} must be {getattr(kind, '__name__', 'a list or null')}, "
                                     f"not {json_type(manifest[key])}")
        if manifest["format"] not in FORMATS:
            raise ModelLoadError(f"model.json's 'format' must be one of {', '.join(FORMATS)}, not "
                                 f"{manifest['format']!r}")
        file = manifest.get("file", FORMATS[manifest["format"]][1][0])
        if file not in FORMATS[manifest["format"]][1]:
            raise ModelLoadError(f"model.json's 'file' must be one of {', '.join(FORMATS[manifest['format']][1])} "
                                 f"for a {manifest['format']} model, not {file!r}")
        if "backend" in manifest and (manifest["backend"] != "boosting" or manifest["format"] != "skops"):
            raise ModelLoadError("model.json's 'backend' may only say 'boosting', of a skops model")
        if (manifest["sklearn"] is None) != (manifest["format"] != "skops"):
            raise ModelLoadError("model.json's 'sklearn' must name the version of a skops model, and be null for "
                                 "any other")
        if manifest["task"] not in TASKS:
            raise ModelLoadError(f"model.json's 'task' must be one of {', '.join(TASKS)}, not {manifest['task']!r}")
        if manifest["n_features"] < 1:
            raise ModelLoadError(f"model.json's 'n_features' must be at least 1, not {manifest['n_features']}")
        names = manifest["feature_names"]
        if names is not None and (len(names) != manifest["n_features"] or not all(isinstance(n, str) for n in names)):
            raise ModelLoadError(f"model.json's 'feature_names' must be {manifest['n_features']} strings")
        if not set(manifest["outputs"]) <= set(OUTPUTS):
            raise ModelLoadError(f"model.json's 'outputs' may only name {', '.join(OUTPUTS)}")
        onnx = manifest["onnx"]
        if onnx.get("exported") and not (isinstance(onnx.get("file"), str) and "/" not in onnx["file"]
                                         and isinstance(onnx.get("sha256"), str)):
            raise ModelLoadError("model.json's 'onnx' must name its file (in the model folder) and sha256")
        if onnx.get("score_column", 0) not in (0, 1) or isinstance(onnx.get("score_column"), bool):
            raise ModelLoadError("model.json's 'onnx' 'score_column' must be 0 or 1")
        schema = Schema.from_inputs(manifest["inputs"], manifest["frame"])
        if len(schema.inputs) != manifest["n_features"]:
            raise ModelLoadError(f"model.json says n_features is {manifest['n_features']} but lists "
                                 f"{len(schema.inputs)} inputs: rebuild the package (make package)")
        if names is not None and tuple(names) != tuple(i.name for i in schema.inputs):
            raise ModelLoadError("model.json's 'inputs' are not named as its 'feature_names': rebuild the package")
        return cls(manifest["name"], manifest["version"], manifest["sha256"], manifest["task"],
                   manifest["n_features"], tuple(names) if names is not None else None,
                   tuple(manifest["classes"]) if manifest["classes"] is not None else None,
                   tuple(manifest["outputs"]), tuple(manifest["trusted_types"]), manifest["sklearn"], onnx, schema,
                   manifest["format"], file, manifest.get("backend"))

    def identity(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def check(self, estimator: Any) -> None:
        """The loaded model agrees with model.json, or INIT fails saying where they differ: task, features and their
        names, classes, the outputs it claims, and the scikit-learn it was made for (the layer's)."""
        import sklearn
        from sklearn.base import is_classifier, is_regressor

        if sklearn.__version__ != self.sklearn:
            raise ModelLoadError(f"model.json says scikit-learn {self.sklearn}, but the layer has "
                                 f"{sklearn.__version__}: refit the model with the layer's version, or lock the layer "
                                 "to the model's")
        task = "classifier" if is_classifier(estimator) else "regressor" if is_regressor(estimator) else None
        found = {"task": task, "n_features": getattr(estimator, "n_features_in_", None)}
        names = getattr(estimator, "feature_names_in_", None)
        found["feature_names"] = tuple(str(n) for n in names) if names is not None else None
        classes = getattr(estimator, "classes_", None)
        found["classes"] = tuple(np.asarray(classes).tolist()) if classes is not None else None
        found["outputs"] = tuple(o for o in OUTPUTS if hasattr(estimator, o))
        for key, value in found.items():
            if value != getattr(self, key):
                raise ModelLoadError(f"model.json says {key} is {getattr(self, key)!r}, but the model has {value!r}: "
                                     "the manifest and the model disagree; rebuild the package (make package)")


    def check_onnx(self, session: Any) -> None:
        """The ONNX model takes what model.json says (float64 rows of n_features, or one column per input: float64
        numbers, string categories) and gives what the answer needs."""
        inputs, outputs = session.get_inputs(), session.get_outputs()
        found = [(i.name, i.type, i.shape) for i in inputs]
        if self.onnx.get("input") == "columns":
            want = [(i.name, "tensor(double)" if i.type == "number" else "tensor(string)") for i in self.schema.inputs]
            if [(i.name, i.type) for i in inputs] != want or any(len(i.shape) != 2 or i.shape[1] != 1 for i in inputs):
                raise ModelLoadError(f"model.json says the ONNX model takes one column per input {want}, but its "
                                     f"inputs are {found}: rebuild the package (make package)")
        else:  # one matrix: float64, or float32 for a booster's export (onnxmltools takes no other)
            width = inputs[0].shape[1] if len(inputs) == 1 and len(inputs[0].shape) == 2 else None
            dtype = "float32" if self.onnx.get("input") == "float32" else "float64"
            if len(inputs) != 1 or inputs[0].type != ONNX_TYPES[dtype] or width != self.n_features:
                raise ModelLoadError(f"model.json says the ONNX model takes {dtype} rows of {self.n_features} "
                                     f"features, but its inputs are {found}: rebuild the model (make model)")
        wanted = 2 if self.task == "classifier" and self.outputs else 1
        if len(outputs) < wanted:
            raise ModelLoadError(f"the ONNX model gives {len(outputs)} outputs; a {self.task} with "
                                 f"{', '.join(self.outputs) or 'predict'} needs {wanted}: rebuild the model")
        # a classifier's first output is its labels (integers or strings), a regressor's its values (floats)
        labels = outputs[0].type in ("tensor(int64)", "tensor(int32)", "tensor(string)")
        if labels != (self.task == "classifier"):
            found = "class labels" if labels else "values"
            raise ModelLoadError(f"model.json says the model is a {self.task}, but the ONNX model answers {found} "
                                 f"({outputs[0].type}): the manifest and the model disagree; rebuild the package")


def parse_instances(data: dict, spec: ModelSpec, columns: bool = False, codes: bool = False):
    """{"instances": rows} -> what the model takes: a float64 array (rows x n_features) of finite numbers, or, for
    a model whose inputs are not all numbers that must be present, what its Schema builds; with `columns`, one array
    per input (an ONNX export of typed inputs); with `codes`, one float64 matrix, categories as codes (a booster)."""
    reject_unknown(data, {"instances"})
    if "instances" not in data:
        raise PayloadError("instances", "is required: an array of rows, each an array of "
                           + ("numbers" if spec.schema.plain else "values") +
                           (" or an object of named features" if spec.feature_names else ""))
    rows = data["instances"]
    if not isinstance(rows, list):
        raise PayloadError("instances", f"must be an array of rows, not {json_type(rows)}")
    if not rows:
        raise PayloadError("instances", "must hold at least one row")
    if len(rows) > MAX_ROWS:
        raise PayloadError("instances", f"holds {len(rows)} rows; at most {MAX_ROWS} per request")
    if spec.feature_names and set(map(type, rows)) == {dict}:
        rows = _named_rows(rows, spec.feature_names)
    # Checked with C-level passes over the whole batch; the slow per-row search runs only to
    # name the first offending row once something is known to be wrong.
    if set(map(type, rows)) != {list}:
        bad = next(i for i, row in enumerate(rows) if not isinstance(row, list))
        kind = ("an array of numbers" if spec.schema.plain else "an array of values") + (
            " or an object of named features" if spec.feature_names else "")
        raise PayloadError(f"instances[{bad}]", f"must be {kind}, not {json_type(rows[bad])}")
    if set(map(len, rows)) != {spec.n_features}:
        bad = next(i for i, row in enumerate(rows) if len(row) != spec.n_features)
        raise PayloadError(f"instances[{bad}]", f"has {len(rows[bad])} values; the model takes {spec.n_features}")
    if columns:
        return spec.schema.feed(spec.schema.check(rows))
    if codes and not spec.schema.numbers:
        return spec.schema.codes(spec.schema.check(rows))
    if spec.schema.numbers and not spec.schema.plain:
        array = _numbers_or_missing(rows, spec.schema)
        if array is not None:
            return array
    if not spec.schema.plain:  # (and numbers the fast pass refused: the column check names the fault)
        return spec.schema.build(spec.schema.check(rows))
    if not set(map(type, itertools.chain.from_iterable(rows))) <= {float, int}:
        _raise_first_non_number(rows)
    try:
        array = np.array(rows, dtype=np.float64)
    except OverflowError:
        raise PayloadError("instances", "holds an integer too large for a 64-bit float") from None
    if not np.isfinite(array).all():
        row, col = map(int, np.argwhere(~np.isfinite(array))[0])
        raise PayloadError(f"instances[{row}][{col}]", "must be a finite number (no NaN or infinity)")
    if np.abs(array).max() > MAX_ABS_VALUE:
        row, col = map(int, np.argwhere(np.abs(array) > MAX_ABS_VALUE)[0])
        raise PayloadError(f"instances[{row}][{col}]", f"must be at most {MAX_ABS_VALUE:g} in magnitude")
    return array


def _numbers_or_missing(rows: list[list], schema: Schema) -> np.ndarray | None:
    """Rows of numbers and nulls as one float64 array (NaN where null), checked with whole-batch passes; None when
    anything breaks a rule, for the column check to name."""
    if not set(map(type, itertools.chain.from_iterable(rows))) <= {float, int, type(None)}:
        return None
    try:
        array = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
    except OverflowError:
        return None
    gaps = ~np.isfinite(array)
    if gaps.any():
        may_be_missing = np.array([i.missing for i in schema.inputs])
        if (gaps.any(axis=0) & ~may_be_missing).any() or np.isinf(array).any() or \
                sum(v is None for row in rows for v in row) != int(gaps.sum()):  # a NaN given, not a null
            return None
    if np.abs(np.where(gaps, 0.0, array)).max(initial=0.0) > MAX_ABS_VALUE:
        return None
    return array


def _named_rows(rows: list[dict], names: tuple[str, ...]) -> list[list]:
    """Objects of named features, in the model's column order; missing or unknown names are named."""
    wanted = set(names)
    out = []
    for i, row in enumerate(rows):
        if row.keys() != wanted:
            missing, unknown = sorted(wanted - row.keys()), sorted(row.keys() - wanted)
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(unknown)}"] if unknown else [])
            raise PayloadError(f"instances[{i}]", f"{'; '.join(problems)} (the model's features: {', '.join(names)})")
        out.append([row[n] for n in names])
    return out


def _raise_first_non_number(rows: list[list]) -> None:
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if type(value) not in (float, int):
                raise PayloadError(f"instances[{i}][{j}]", f"must be a number, not {json_type(value)}")


def from_onnx(task: str, outputs: tuple[str, ...], got: list, score_column: int | None = None) -> tuple:
    """(predictions, probabilities, scores) from an ONNX export's outputs, as `answer` takes them: what the onnx
    handler answers, and what the export's proof compares with scikit-learn. A binary decision function is one
    score per row; skl2onnx gives two columns, and which one is the score depends on the converter (SVC's first,
    SGDClassifier's second): the export's proof finds it and model.json records it as `score_column`."""
    if task == "regressor":
        return np.asarray(got[0], dtype=np.float64).reshape(-1), None, None
    labels, second = got[0], (got[1] if len(got) > 1 else None)
    if "predict_proba" in outputs:
        return labels, second, None
    if "decision_function" in outputs and second is not None:
        return labels, None, second if score_column is None else second[:, score_column]
    return labels, None, None


def answer(spec: ModelSpec, predictions: np.ndarray, probabilities: np.ndarray | None = None,
           scores: np.ndarray | None = None) -> dict:
    """The response body: labels (or floats), probabilities with their classes, or scores; the model's identity."""
    out: dict = {"predictions": np.asarray(predictions).tolist()}
    if probabilities is not None:
        out["probabilities"] = np.asarray(probabilities).tolist()
        out["classes"] = list(spec.classes or [])
    elif scores is not None:
        out["scores"] = np.asarray(scores).tolist()
    out["model"] = spec.identity()
    return out
