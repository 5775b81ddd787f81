"""Loading the model safely: hash checked, only trusted types, a clear failure at cold start."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import skops.io
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from support import REPO

from lambda_ml_bench.build.model import normalised_zip
from lambda_ml_bench.handlers import model
from lambda_ml_bench.handlers.errors import ModelLoadError


@pytest.fixture
def model_copy(handlers_env: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "model"
    shutil.copytree(handlers_env, dest)
    return dest


def test_the_packaged_model_loads_with_its_manifest(handlers_env: Path) -> None:
    loaded = model.load(handlers_env)
    manifest = json.loads((handlers_env / "model.json").read_text())
    assert loaded.identity() == {"name": manifest["name"], "version": manifest["version"], "sha256": manifest["sha256"]}
    assert loaded.spec.n_features == 30 and loaded.spec.classes == (0, 1) and loaded.spec.task == "classifier"
    assert manifest["format"] == "skops" and manifest["test_accuracy"] > 0.9


def test_a_changed_model_file_fails_with_both_hashes(model_copy: Path) -> None:
    data = bytearray((model_copy / "model.skops").read_bytes())
    data[-100] ^= 0xFF
    (model_copy / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"model\.skops has sha256 [0-9a-f]{64}, but model\.json says "
                                             r"[0-9a-f]{64}: the model file was altered or swapped"):
        model.load(model_copy)


def test_a_model_with_untrusted_types_is_refused_even_with_a_matching_hash(model_copy: Path) -> None:
    evil = make_pipeline(FunctionTransformer(os.system))  # would run shell commands if trusted
    data = normalised_zip(skops.io.dumps(evil))
    (model_copy / "model.skops").write_bytes(data)
    manifest = json.loads((model_copy / "model.json").read_text())
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    (model_copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"could not be loaded safely: .*(system|Untrusted)"):
        model.load(model_copy)


@pytest.mark.parametrize(("key", "lie", "named"), [
    ("task", "regressor", "task is 'regressor', but the model has 'classifier'"),
    ("sklearn", "0.24.2", "scikit-learn 0.24.2, but the layer has"),
    ("n_features", 29, "n_features is 29 but lists 30 inputs"),
    ("classes", [0, 1, 2], "classes is (0, 1, 2), but the model has (0, 1)"),
    ("outputs", ["predict_proba", "decision_function"], "outputs is ('predict_proba', 'decision_function')"),
])
def test_a_manifest_that_lies_fails_init_naming_the_disagreement(model_copy: Path, key: str, lie, named: str) -> None:
    manifest = json.loads((model_copy / "model.json").read_text())
    manifest[key] = lie
    (model_copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=re.escape(named)):
        model.load(model_copy)


def test_a_missing_model_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=f"cannot read {tmp_path}/model.json"):
        model.load(tmp_path)


def test_the_cold_start_fails_with_the_message(model_copy: Path) -> None:
    (model_copy / "model.skops").write_bytes(b"swapped")
    env = {**os.environ, "MODEL_DIR": str(model_copy)}
    proc = subprocess.run([sys.executable, "-c", "import lambda_ml_bench.handlers.predict"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "lambda_ml_bench.handlers.errors.ModelLoadError" in proc.stderr and "altered or swapped" in proc.stderr


def test_model_files_are_byte_identical_across_trainings(tmp_path: Path) -> None:
    from lambda_ml_bench.build.model import write_model

    one = write_model("1", tmp_path / "a")
    two = write_model("1", tmp_path / "b")
    assert one["sha256"] == two["sha256"]
    assert (tmp_path / "a" / "model.skops").read_bytes() == (tmp_path / "b" / "model.skops").read_bytes()


def test_the_normalised_file_predicts_exactly_like_the_trained_model(handlers_env: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    from lambda_ml_bench.build.model import train

    X, _ = load_breast_cancer(return_X_y=True)
    fresh, _, _ = train()
    assert (model.load(handlers_env).estimator.predict_proba(X) == fresh.predict_proba(X)).all()
