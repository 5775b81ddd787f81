"""What a fitted model takes, recorded in model.json as `inputs` (one per column: name, type, whether it may be
missing, a category's known values and what its encoder does with an unknown one) and `frame` (whether rows reach
the model as a pandas DataFrame). The handler's contract checks every request against it.

Read from the fitted model where it says: `feature_names_in_`, a `ColumnTransformer`'s columns and their encoders'
`categories_` and `handle_unknown`, a leading encoder, `HistGradientBoosting`'s categorical features. Where it does
not, from `--check-data` rows: a column of strings is a category. Whether a column may be missing is asked of the
model itself: one known-good row is predicted with that column missing; the model either takes it or refuses.
"""
from __future__ import annotations

import warnings
from typing import Any

from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.handlers import contract
from lambda_ml_bench.handlers.errors import PayloadError

ENCODERS = ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder")
RAISES_ON_UNKNOWN = "error"


class SchemaError(BuildError):
    """The model's inputs cannot be made out, or the check rows disagree with them."""


def infer(estimator: Any, rows: list[list] | None = None) -> tuple[list[dict], bool]:
    """(model.json's `inputs`, `frame`) for a fitted estimator; `rows`: check rows in the model's column order
    (numbers, strings, None for missing), when the user gave some."""
    n = int(estimator.n_features_in_)
    fitted_names = getattr(estimator, "feature_names_in_", None)
    names = [str(c) for c in fitted_names] if fitted_names is not None else [None] * n
    inputs = [{"name": names[i], "type": "number", "missing": False} for i in range(n)]
    for index, categories, unknown in _categorical_columns(estimator, names):
        _set_categories(inputs[index], categories, unknown)
    for j, column in enumerate(zip(*rows) if rows else ()):
        values = [v for v in column if v is not None]
        if inputs[j]["type"] == "number" and any(isinstance(v, str) for v in values):
            _set_categories(inputs[j], sorted({v for v in values if isinstance(v, str)}), "model")
        elif inputs[j]["type"] == "number" and values and all(isinstance(v, bool) for v in values):
            inputs[j]["type"] = "boolean"
    zeros = [0.0 if v is None else v for v in rows[0]] if rows else [0.0] * n
    frame = fitted_names is not None and (any(i["type"] != "number" for i in inputs)
                                          or not _takes(estimator, _model_input(inputs, False, [zeros])))
    base = _base_row(estimator, inputs, frame, rows)
    for j, column in enumerate(inputs):
        probe = list(base)
        probe[j] = None
        column["missing"] = _takes(estimator, _model_input(inputs, frame, [probe]))
    return inputs, frame


def _set_categories(column: dict, categories, unknown: str) -> None:
    import numpy as np

    known = [c.item() if isinstance(c, np.generic) else c for c in categories
             if not (c is None or (isinstance(c, float) and np.isnan(c)))]
    if known and all(isinstance(c, (bool, np.bool_)) for c in known):
        column.update(type="boolean")
        return
    if not any(isinstance(c, str) for c in known):
        return  # categories that are numbers: the column takes numbers, as it did
    column.update(type="category", categories=[str(c) for c in known], unknown=unknown)


def _categorical_columns(estimator: Any, names: list[str | None]):
    """(column index, its categories, what the model does with an unknown one) for each column the model encodes
    itself, found along the chain of first steps (a Pipeline's first step, and so on)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    step = estimator
    while True:
        if isinstance(step, ColumnTransformer):
            for name, transformer, _ in step.transformers_:
                encoder = _encoder(transformer)
                if encoder is not None:
                    indices = step._transformer_to_input_indices[name]  # noqa: SLF001 - the fitted column map
                    for k, index in enumerate(indices):
                        yield int(index), encoder.categories_[k], _unknown(encoder)
            return
        if type(step).__name__ in ENCODERS:
            for index, categories in enumerate(step.categories_):
                yield index, categories, _unknown(step)
            return
        if type(step).__name__.startswith("HistGradientBoosting"):
            yield from _hist_gradient_boosting(step)
            return
        if not isinstance(step, Pipeline):
            return
        step = step.steps[0][1]


def _encoder(transformer: Any):
    from sklearn.pipeline import Pipeline

    if type(transformer).__name__ in ENCODERS:
        return transformer
    if isinstance(transformer, Pipeline):
        return next((s for _, s in transformer.steps if type(s).__name__ in ENCODERS), None)
    return None


def _unknown(encoder: Any) -> str:
    """`error` when the encoder raises on a category it was not fitted with (the contract then refuses it with a
    400 first), else `model` (the encoder ignores it, or maps it to its infrequent or encoded value)."""
    return RAISES_ON_UNKNOWN if getattr(encoder, "handle_unknown", None) == "error" else "model"


def _hist_gradient_boosting(model: Any):
    """Categorical features a HistGradientBoosting model encodes itself (from a DataFrame's category dtype or
    named): its own ordinal encoder knows their categories; an unknown one is treated as missing."""
    mask = getattr(model, "is_categorical_", None)
    pre = getattr(model, "_preprocessor", None)
    if mask is None or pre is None:
        return
    for name, transformer, _ in pre.transformers_:
        if type(transformer).__name__ == "OrdinalEncoder":
            for k, index in enumerate(pre._transformer_to_input_indices[name]):  # noqa: SLF001
                yield int(index), transformer.categories_[k], "model"


def _base_row(estimator: Any, inputs: list[dict], frame: bool, rows) -> list:
    """A row the model takes: the first check row with nothing missing, else one made from the schema (a number
    0, a category's first known value, false)."""
    candidates = [r for r in rows or () if None not in r][:1]
    candidates.append([0.0 if i["type"] == "number" else False if i["type"] == "boolean" else i["categories"][0]
                       for i in inputs])
    for row in candidates:
        if _takes(estimator, _model_input(inputs, frame, [row])):
            return row
    raise SchemaError("the model does not predict on a row made from its own inputs; pass rows it takes with "
                      "--check-data FILE.csv (CHECK_DATA= through make)")


def _model_input(inputs: list[dict], frame: bool, rows: list[list]):
    """The rows as the handler gives them to the model (the contract's own conversion)."""
    spec = contract.Schema.from_inputs(inputs, frame)
    return spec.to_model(rows)


def _takes(estimator: Any, X: Any) -> bool:
    """Whether the model predicts on X without an error and with a finite answer."""
    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = np.asarray(estimator.predict(X))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return False
    return out.dtype.kind not in "fc" or bool(np.isfinite(out).all())


def check_rows(inputs: list[dict], frame: bool, rows: list[list], source: str) -> None:
    """Every check row is a request the contract takes (the user's data agrees with the schema)."""
    try:
        contract.Schema.from_inputs(inputs, frame).check(rows)
    except PayloadError as err:
        raise SchemaError(f"{source} does not fit the model's inputs: {err}") from None
