"""The typed request schema: what a fitted model takes, read from it at import (model.json's `inputs` and `frame`),
and every request checked against it: strings where a column is a category, null where it may be missing, an
unknown category refused (400 naming it) only where the model's encoder would raise."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import skops.io
from support import CATEGORIES, NUMBERS, as_rows, boosted_pipeline, categorical_pipeline, wine_frame

from lambda_ml_bench.build import model as build_model
from lambda_ml_bench.build.model import ModelImportError, normalised_zip, package_model
from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES
from lambda_ml_bench.build.schema import SchemaError
from lambda_ml_bench.handlers import contract, model
from lambda_ml_bench.handlers.errors import PayloadError

RT = RUNTIMES[DEFAULT_PYTHON]


def package(estimator, out: Path, check_rows=None) -> dict:
    data = normalised_zip(skops.io.dumps(estimator))
    return package_model(data, "m", "1", sorted(skops.io.get_untrusted_types(data=data)), RT, out,
                         check_rows=check_rows)


@pytest.fixture(scope="module")
def categorical(tmp_path_factory) -> tuple:
    estimator = categorical_pipeline()
    folder = tmp_path_factory.mktemp("categorical")
    return estimator, package(estimator, folder), model.load(folder)


def rows(*records: dict) -> dict:
    return {"instances": list(records)}


ROW = {"alcohol": 13.2, "malic_acid": 1.8, "proline": 1050, "colour": "medium", "hue_band": "high"}


def test_the_inputs_are_read_from_the_fitted_pipeline(categorical) -> None:
    _, manifest, _ = categorical
    by_name = {i["name"]: i for i in manifest["inputs"]}
    assert [i["name"] for i in manifest["inputs"]] == NUMBERS + CATEGORIES and manifest["frame"] is True
    assert by_name["colour"] == {"name": "colour", "type": "category", "missing": True,
                                 "categories": ["deep", "medium", "pale"], "unknown": "model"}
    assert by_name["alcohol"] == {"name": "alcohol", "type": "number", "missing": True}  # its imputer fills it


def test_a_string_imputer_is_not_exported_and_says_why(tmp_path: Path) -> None:
    X, _ = wine_frame()
    manifest = package(categorical_pipeline(), tmp_path, check_rows=(as_rows(X[:40]), "40 rows"))
    assert manifest["onnx"]["exported"] is False
    assert "when the missing values are string" in manifest["onnx"]["reason"]


def test_categories_and_gaps_are_exported_as_typed_columns_and_answer_alike(tmp_path: Path) -> None:
    X, _ = wine_frame()
    estimator = boosted_pipeline()
    manifest = package(estimator, tmp_path, check_rows=(as_rows(X.sample(60, random_state=1)), "60 rows"))
    onnx = manifest["onnx"]
    assert onnx["exported"] and onnx["input"] == "columns", onnx
    assert onnx["checked_rows"] > 60  # nulls and unknown categories added to the proof
    served = model.load_onnx(tmp_path)
    records = [ROW, {**ROW, "alcohol": None, "hue_band": None}, {**ROW, "colour": "purple"}]
    got = served.session.run(None, contract.parse_instances(rows(*records), served.spec, columns=True))
    labels, probabilities, _ = contract.from_onnx("classifier", served.spec.outputs, got)
    frame = contract.parse_instances(rows(*records), served.spec)
    assert labels.tolist() == estimator.predict(frame).tolist()
    assert np.abs(probabilities - estimator.predict_proba(frame)).max() <= 1e-5


def test_strings_nulls_and_unknown_categories_reach_the_model_as_a_frame_would(categorical) -> None:
    import pandas as pd

    estimator, _, loaded = categorical
    records = [ROW, {**ROW, "alcohol": None, "hue_band": None}, {**ROW, "colour": "purple"}]  # purple: never seen
    X = contract.parse_instances(rows(*records), loaded.spec)
    assert isinstance(X, pd.DataFrame) and list(X.columns) == NUMBERS + CATEGORIES
    expected = estimator.predict_proba(pd.DataFrame(records).replace({None: np.nan}))
    assert np.array_equal(loaded.estimator.predict_proba(X), expected)
    positional = contract.parse_instances({"instances": [[13.2, 1.8, 1050, "medium", "high"]]}, loaded.spec)
    assert np.array_equal(loaded.estimator.predict_proba(positional), expected[:1])


@pytest.mark.parametrize(("record", "field", "rule"), [
    ({**ROW, "alcohol": "13.2"}, "instances[0].alcohol", "must be a number or null, not a string"),
    ({**ROW, "colour": 3}, "instances[0].colour", "must be a string (a category) or null, not a number"),
    ({**ROW, "proline": True}, "instances[0].proline", "must be a number or null, not a boolean"),
    ({**ROW, "malic_acid": 1e300}, "instances[0].malic_acid", "must be a finite number at most 1e+100 in magnitude"),
    ({**ROW, "alcohol": float("nan")}, "instances[0].alcohol",  # JSON's NaN literal is not null
     "must be a finite number at most 1e+100 in magnitude"),
])
def test_a_value_of_the_wrong_type_is_named_with_its_rule(categorical, record: dict, field: str, rule: str) -> None:
    with pytest.raises(PayloadError) as caught:
        contract.parse_instances(rows(record), categorical[2].spec)
    assert str(caught.value) == f"{field}: {rule}"


def test_an_encoder_that_raises_on_an_unknown_category_is_answered_before_it_can(tmp_path: Path) -> None:
    estimator = categorical_pipeline(handle_unknown="error")
    manifest = package(estimator, tmp_path)
    assert {i["name"]: i.get("unknown") for i in manifest["inputs"]}["colour"] == "error"
    spec = model.load(tmp_path).spec
    contract.parse_instances(rows(ROW), spec)  # a known one passes
    with pytest.raises(PayloadError, match=r"instances\[1\]\.colour: is 'purple', a category the model was not "
                                           r"fitted with \(it knows deep, medium, pale\)"):
        contract.parse_instances(rows(ROW, {**ROW, "colour": "purple"}), spec)
    hostile = json.loads('{"instances": [{"alcohol": 1, "malic_acid": 1, "proline": 1, "colour": "\\ud800", '
                         '"hue_band": "low"}]}')  # a lone surrogate: the message must survive being logged
    with pytest.raises(PayloadError) as caught:
        contract.parse_instances(hostile, spec)
    str(caught.value).encode("utf-8")


def test_a_model_taking_missing_values_natively_gets_nan_in_a_float_array(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = wine_frame()
    X = X[NUMBERS]
    estimator = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    manifest = package(estimator, tmp_path)
    assert manifest["frame"] is False and all(i["missing"] and i["type"] == "number" for i in manifest["inputs"])
    spec = model.load(tmp_path).spec
    got = contract.parse_instances({"instances": [[None, 1.8, 1050], [13.2, None, None]]}, spec)
    assert got.dtype == np.float64 and np.isnan(got).sum() == 3
    expected = estimator.predict_proba(pd.DataFrame([[np.nan, 1.8, 1050], [13.2, np.nan, np.nan]], columns=NUMBERS))
    with warnings.catch_warnings():  # as the handler does: the array has no names, its columns are in their order
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        assert np.array_equal(estimator.predict_proba(got), expected)


def test_a_model_that_refuses_missing_values_says_so_and_null_is_a_400(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = wine_frame()
    X = X[NUMBERS].fillna(13.0)
    manifest = package(LogisticRegression(max_iter=2000).fit(X, y), tmp_path)
    assert not any(i["missing"] for i in manifest["inputs"]) and manifest["frame"] is False
    with pytest.raises(PayloadError, match=r"instances\[0\]\[0\]: must be a number, not null"):
        contract.parse_instances({"instances": [[None, 1.8, 1050]]}, model.load(tmp_path).spec)


def test_check_rows_are_read_with_their_header_types_and_gaps(tmp_path: Path) -> None:
    csv = tmp_path / "held-out.csv"
    csv.write_text("colour,alcohol,hue_band,proline,malic_acid\nmedium,13.2,,1050,1.8\npale,NA,low,500,2\n")
    read, what, header = build_model._read_rows(csv)
    assert read == [["medium", 13.2, None, 1050.0, 1.8], ["pale", None, "low", 500.0, 2.0]]
    assert what == "the 2 rows of held-out.csv" and header[0] == "colour"
    in_order = build_model._in_model_order(read, NUMBERS + CATEGORIES, header)
    assert in_order[0] == [13.2, 1.8, 1050.0, "medium", None]
    assert build_model._in_model_order(read, ["proline", "alcohol"], header)[1] == [500.0, None]  # others left out
    with pytest.raises(ModelImportError, match="does not name the model's features a, b"):
        build_model._in_model_order(read, ["a", "alcohol", "b"], header)


def test_check_rows_that_break_the_inputs_are_refused_naming_the_file(tmp_path: Path) -> None:
    estimator = categorical_pipeline(handle_unknown="error")
    with pytest.raises(ModelImportError, match="the 1 rows of short.csv have 4 columns; the model takes 5"):
        package(estimator, tmp_path, check_rows=([[13.2, 1.8, 1050.0, "pale"]], "the 1 rows of short.csv"))
    bad = [[13.2, 1.8, 1050.0, "purple", "low"]]
    with pytest.raises(SchemaError, match=r"held-out.csv does not fit the model's inputs: instances\[0\]\.colour"):
        package(estimator, tmp_path, check_rows=(bad, "held-out.csv"))


def test_a_category_learnt_from_check_rows_where_the_model_does_not_say(tmp_path: Path) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    X = np.array([["a", 1.0], ["b", 2.0], ["a", 3.0], ["b", 4.0]], dtype=object)
    y = [0, 1, 0, 1]
    # the encoder sits behind a step that does not say what it takes: only the rows tell the first column is text
    estimator = make_pipeline(FunctionTransformer(), OrdinalEncoder(), DecisionTreeClassifier()).fit(X, y)
    manifest = package(estimator, tmp_path, check_rows=([["a", 1.0], ["b", 4.0]], "rows.csv"))
    assert manifest["inputs"][0]["type"] == "category" and manifest["inputs"][0]["categories"] == ["a", "b"]
    spec = model.load(tmp_path).spec
    got = contract.parse_instances({"instances": [["b", 2.0]]}, spec)
    assert got.dtype == object and estimator.predict(got).tolist() == [1]


def test_native_categorical_gradient_boosting_is_refused_for_the_call_gadget_it_holds(tmp_path: Path) -> None:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = wine_frame()
    X = X[NUMBERS + ["colour"]].astype({"colour": "category"})
    estimator = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype").fit(X, y)
    assert isinstance(X, pd.DataFrame)
    with pytest.raises(ModelImportError, match=r"never loadable.*functools.partial"):
        package(estimator, tmp_path)


def test_only_a_model_fed_a_dataframe_puts_the_layers_pandas_on_the_path(categorical, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    layer = tmp_path / "python"
    (layer / model.APART_DIR).mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(layer), *sys.path])
    numeric = tmp_path / "numeric"
    from sklearn.linear_model import LogisticRegression

    X, y = wine_frame()
    package(LogisticRegression(max_iter=2000).fit(X[NUMBERS].fillna(13.0), y), numeric)
    assert model.reach_apart(numeric) is False and str(layer / model.APART_DIR) not in sys.path
    frame_dir = tmp_path / "frame"
    package(categorical[0], frame_dir)
    assert model.reach_apart(frame_dir) is True and sys.path[1] == str(layer / model.APART_DIR)


@pytest.mark.parametrize(("instances", "field", "rule"), [
    ([[float("nan"), 1.0, 2.0]], "instances[0][0]", "finite number"),  # a NaN given (Python's json reads one), not null
    ([[1.0, True, 2.0]], "instances[0][1]", "a number or null, not a boolean"),
    ([[1.0, 2.0, "3"]], "instances[0][2]", "a number or null, not a string"),
    ([[1.0, 2.0, 1e300]], "instances[0][2]", "at most 1e+100"),
    ([[1.0, 2.0, 10**400]], "instances[0][2]", "too large for a 64-bit float"),
    ([[1.0, None, 3.0], [None, 2.0, None]], None, None),
])
def test_numbers_and_nulls_are_read_in_one_pass_and_a_fault_still_named(instances, field, rule) -> None:
    """A model whose columns are all numbers that may be missing (a booster's, HistGradientBoosting's) gets one
    float64 array read with whole-batch passes; what breaks a rule is named as the column check names it."""
    inputs = [{"name": None, "type": "number", "missing": True} for _ in range(3)]
    spec = contract.ModelSpec("m", "1", "0" * 64, "regressor", 3, None, None, (), (), None, {},
                              contract.Schema.from_inputs(inputs, False), "xgboost", "model.xgboost.json")
    assert spec.schema.numbers and not spec.schema.plain
    if field is None:
        got = contract.parse_instances({"instances": instances}, spec)
        assert got.dtype == np.float64 and np.isnan(got).sum() == 3 and got[1, 1] == 2.0
        return
    with pytest.raises(PayloadError, match=re.escape(field) + r": .*" + re.escape(rule)):
        contract.parse_instances({"instances": instances}, spec)
