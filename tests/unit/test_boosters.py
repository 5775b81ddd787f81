"""XGBoost and LightGBM model files: what the import records and refuses, what INIT checks, and that the booster
layers serve without what they remove of SciPy."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from support import booster_files, refusing

from lambda_ml_bench.build.backends import BACKENDS
from lambda_ml_bench.build.model import ModelImportError, import_model
from lambda_ml_bench.handlers.booster import load_booster
from lambda_ml_bench.handlers.errors import ModelLoadError, PayloadError
from lambda_ml_bench.handlers.model import load


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return booster_files(tmp_path_factory.mktemp("boosters"))


def test_a_booster_file_is_described_from_its_own_facts(files: dict, tmp_path: Path) -> None:
    path, _, booster, X = files["wine-lightgbm"]
    manifest = import_model(path, [], "3", tmp_path)
    assert manifest["format"] == "lightgbm" and manifest["file"] == "model.lightgbm.txt"
    assert manifest["classes"] == [0, 1, 2] and manifest["n_features"] == 13
    assert manifest["lightgbm"]["objective"] == "multiclass"
    assert not manifest["onnx"]["exported"] and "--check-data" in manifest["onnx"]["reason"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.lightgbm.txt"]
    served = load_booster(tmp_path, "lightgbm")
    labels, probabilities = served.predict(X)
    assert np.array_equal(probabilities, booster.predict(X))
    assert labels.tolist() == booster.predict(X).argmax(1).tolist()


def test_the_scikit_learn_handler_refuses_a_booster_and_the_booster_one_a_swapped_file(files: dict,
                                                                                        tmp_path: Path) -> None:
    path, *_ = files["cancer-xgboost"]
    import_model(path, [], "1", tmp_path)
    with pytest.raises(ModelLoadError, match="predict-xgboost handler serves it"):
        load(tmp_path)
    with pytest.raises(ModelLoadError, match="the predict-xgboost handler serves it, not the lightgbm one"):
        load_booster(tmp_path, "lightgbm")
    model_file = tmp_path / "model.xgboost.json"
    model_file.write_text(model_file.read_text() + " ")  # the same model to XGBoost, not the same bytes
    with pytest.raises(ModelLoadError, match="altered or swapped"):
        load_booster(tmp_path, "xgboost")


def test_a_file_that_is_no_model_or_serves_no_supported_objective_is_refused_by_name(tmp_path: Path) -> None:
    import xgboost

    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"learner": 1}')
    with pytest.raises(ModelImportError, match="xgboost cannot read it"):
        import_model(garbage, [], "1", tmp_path / "out")
    rng = np.random.default_rng(0)
    ranker = xgboost.train({"objective": "rank:pairwise"},
                           xgboost.DMatrix(rng.normal(size=(40, 3)), label=rng.integers(0, 3, 40), group=[20, 20]), 2)
    ranker.save_model(str(tmp_path / "ranker.ubj"))
    with pytest.raises(ModelImportError, match="objective 'rank:pairwise' is not served"):
        import_model(tmp_path / "ranker.ubj", [], "1", tmp_path / "out")
    assert not (tmp_path / "out" / "model.json").exists()


def test_a_lightgbm_model_of_string_categories_takes_them_and_answers_as_with_its_dataframe(tmp_path: Path) -> None:
    """Fitted on a DataFrame's categories, LightGBM keeps their names in its file: the request gives strings (null, or a
    category never seen, is missing, as pandas' code -1 is to LightGBM), the booster gets their codes."""
    import lightgbm
    import pandas as pd

    rng = np.random.default_rng(0)
    colours = pd.Categorical(rng.choice(["red", "green", "blue"], 400))
    frame = pd.DataFrame({"x": rng.normal(size=400), "colour": colours, "z": rng.normal(size=400)})
    y = ((frame.x > 0) ^ (frame.colour == "red")).astype(int)
    params = {"objective": "binary", "verbose": -1, "min_data_per_group": 5}
    booster = lightgbm.train(params, lightgbm.Dataset(frame, y), 20)
    booster.save_model(str(tmp_path / "colours.txt"))
    manifest = import_model(tmp_path / "colours.txt", [], "1", tmp_path / "model")
    colour = manifest["inputs"][1]
    assert (colour["type"], colour["categories"], colour["unknown"]) == ("category", ["blue", "green", "red"], "model")
    assert manifest["inputs"][0]["type"] == manifest["inputs"][2]["type"] == "number"
    served = load_booster(tmp_path / "model", "lightgbm")
    records = [{"x": 0.5, "colour": "red", "z": 0.0}, {"x": -0.5, "colour": None, "z": 1.0},
               {"x": 0.5, "colour": "purple", "z": 0.0}]
    got = served.answer({"instances": records})
    known = [{**r, "colour": r["colour"] if r["colour"] in ("blue", "green", "red") else None} for r in records]
    as_frame = pd.DataFrame(known).astype({"colour": pd.CategoricalDtype(["blue", "green", "red"])})
    assert np.allclose(np.array(got["probabilities"])[:, 1], booster.predict(as_frame), rtol=0, atol=1e-12)
    with pytest.raises(PayloadError, match=r"instances\[0\]\.colour: must be a string \(a category\) or null"):
        served.answer({"instances": [{"x": 0.5, "colour": 2, "z": 0.0}]})


def test_integer_coded_categories_are_taken_as_the_numbers_they_were_fitted_with(tmp_path: Path) -> None:
    import lightgbm
    import xgboost

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=300), rng.integers(0, 4, 300)])
    y = (X[:, 0] > 0).astype(int)
    lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y, categorical_feature=[1]),
                   5).save_model(str(tmp_path / "codes.txt"))
    xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(X, y, feature_types=["q", "c"],
                                                                     enable_categorical=True),
                  5).save_model(str(tmp_path / "codes.ubj"))
    for file in ("codes.txt", "codes.ubj"):
        manifest = import_model(tmp_path / file, [], "1", tmp_path / file.replace(".", "-"))
        assert [i["type"] for i in manifest["inputs"]] == ["number", "number"]


def test_model_json_edited_to_another_shape_fails_init(files: dict, tmp_path: Path) -> None:
    path, *_ = files["cancer-xgboost"]
    import_model(path, [], "1", tmp_path)
    manifest = json.loads((tmp_path / "model.json").read_text())
    manifest["classes"] = [0, 1, 2]
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="classes"):
        load_booster(tmp_path, "xgboost")


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm"])
def test_the_booster_trains_and_predicts_without_what_its_layer_removes(kind: str) -> None:
    """The layer holds neither scikit-learn nor pandas, and of SciPy only what scipy.sparse needs: with those and what
    the kind removes of the booster made unimportable, the booster imports, trains and predicts."""
    blocked = [p.replace("/", ".") for p, _ in BACKENDS[kind].remove] + ["sklearn", "pandas"]
    probe = refusing(blocked) + f"""
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 5)); y = (X[:, 0] > 0).astype(int)
if {kind!r} == "xgboost":
    import xgboost
    scores = xgboost.train({{"objective": "binary:logistic"}}, xgboost.DMatrix(X, label=y), 10).inplace_predict(X)
else:
    import lightgbm
    scores = lightgbm.train({{"objective": "binary", "verbose": -1}}, lightgbm.Dataset(X, label=y), 10).predict(X)
print(float(((scores > 0.5) == y).mean()), sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "pandas")))
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    accuracy, loaded = proc.stdout.split(" ", 1)
    assert float(accuracy) > 0.9 and loaded.strip() == "[]"


def test_a_pipeline_wrapping_a_booster_goes_to_the_boosting_layer_unless_it_needs_a_dataframe(tmp_path: Path) -> None:
    import pandas as pd
    import skops.io
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from support import booster_pipelines
    from xgboost import XGBClassifier

    path, csv, pipeline, X = booster_pipelines(tmp_path)["cancer-lgbm-pipeline"]
    trust = skops.io.get_untrusted_types(file=path)
    with pytest.raises(ModelImportError, match="lightgbm.sklearn.LGBMClassifier"):
        import_model(path, [], "1", tmp_path / "refused")
    manifest = import_model(path, trust, "1", tmp_path / "model", check_data=csv)
    assert manifest["backend"] == "boosting" and manifest["format"] == "skops"
    assert all(i["type"] == "number" and i["missing"] for i in manifest["inputs"])  # the imputer takes gaps
    served = load(tmp_path / "model")  # the predict handler's loader, as on the boosting layer
    assert served.spec.backend == "boosting" and served.spec.backends[0] == "boosting"
    with warnings.catch_warnings():  # LightGBM names its columns Column_N; the rows arrive as an array
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        assert np.array_equal(served.estimator.predict_proba(X), pipeline.predict_proba(X))

    frame = pd.DataFrame({"colour": ["red", "blue"] * 20, "x": np.arange(40.0)})
    by_name = make_pipeline(make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
                            XGBClassifier(n_estimators=5)).fit(frame, [0, 1] * 20)
    skops.io.dump(by_name, tmp_path / "by-name.skops")
    with pytest.raises(ModelImportError, match="takes a DataFrame: pandas beside scikit-learn and the boosters"):
        import_model(tmp_path / "by-name.skops", skops.io.get_untrusted_types(file=tmp_path / "by-name.skops"), "1",
                     tmp_path / "by-name")
