"""The predict handlers (scikit-learn and ONNX Runtime, each test on both) through their public entry point: direct
and HTTP v2 events, good and bad; one contract, the same answers and the same errors."""
from __future__ import annotations

import base64
import copy
import json

import numpy as np
import pytest
from support import lambda_context, load_event

from lambda_ml_bench.handlers.contract import MAX_ROWS
from lambda_ml_bench.handlers.errors import PayloadError
from lambda_ml_bench.paths import PACKAGE


def test_direct_invocation_returns_predictions_probabilities_and_model(predict_module, reference) -> None:
    event = load_event("predict-direct")
    out = predict_module.handler(event, lambda_context())
    X = np.array(event["instances"])
    expected = reference.predict_proba(X)
    if predict_module.__name__ == "lambda_ml_bench.handlers.predict":
        assert out["probabilities"] == expected.tolist()
    else:  # the export's proof: within 1e-5 of scikit-learn (model.json records the largest difference)
        assert np.abs(np.array(out["probabilities"]) - expected).max() <= 1e-5
    assert out["predictions"] == [0, 1]  # rows 0 and 19 of the breast cancer data: malignant, benign
    assert out["model"] == {
        "name": "breast-cancer-svc",
        "version": "1",
        "sha256": json.loads((predict_module.config.model_dir() / "model.json").read_text())["sha256"],
    }
    assert all(abs(sum(p) - 1) < 1e-9 for p in out["probabilities"])


@pytest.mark.parametrize("name", ["predict-function-url", "predict-function-url-base64"])
def test_http_events_get_status_headers_and_json_body(predict_module, name: str) -> None:
    out = predict_module.handler(load_event(name), lambda_context())
    assert out["statusCode"] == 200
    assert out["headers"] == {"content-type": "application/json"}
    body = json.loads(out["body"])
    assert body == predict_module.handler(load_event("predict-direct"), lambda_context())


def row(n: int = 30, value: object = 1.0) -> list:
    return [value] * n


BAD_REQUESTS = [
    ({}, "instances", "is required"),
    ({"instances": [row()], "extra": 1}, "extra", "is not a known field"),
    ({"instances": "1,2,3"}, "instances", "must be an array of rows, not a string"),
    ({"instances": []}, "instances", "at least one row"),
    ({"instances": [row()] * (MAX_ROWS + 1)}, "instances", f"at most {MAX_ROWS} per request"),
    ({"instances": [row(), 5]}, "instances[1]", "must be an array of numbers, not a number"),
    ({"instances": [row(), row(29)]}, "instances[1]", "has 29 values; the model takes 30"),
    ({"instances": [row(31)]}, "instances[0]", "has 31 values"),
    ({"instances": [row()[:-1] + ["1.5"]]}, "instances[0][29]", "must be a number, not a string"),
    ({"instances": [row()[:-1] + [True]]}, "instances[0][29]", "must be a number, not a boolean"),
    ({"instances": [row()[:-1] + [None]]}, "instances[0][29]", "must be a number, not null"),
    ({"instances": [row(), row()[:3] + [float("nan")] + row()[4:]]}, "instances[1][3]", "finite"),
    ({"instances": [row(value=float("inf"))]}, "instances[0][0]", "finite"),
    ({"instances": [row()[:-1] + [10**400]]}, "instances", "too large"),
    ({"instances": [row()[:-1] + [-3e306]]}, "instances[0][29]", "at most 1e\\+100 in magnitude"),
    ({"instances": [row()[:-1] + [[1.0]]]}, "instances[0][29]", "not an array"),
]


@pytest.mark.parametrize(("request_", "field", "rule"), BAD_REQUESTS)
def test_direct_bad_input_raises_the_documented_error(predict_module, request_, field, rule) -> None:
    with pytest.raises(PayloadError, match=rule) as info:
        predict_module.handler(request_, lambda_context())
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(("request_", "field", "rule"), BAD_REQUESTS[:8])
def test_http_bad_input_is_a_400_with_a_structured_body(predict_module, request_, field, rule) -> None:
    event = load_event("predict-function-url")
    event["body"] = json.dumps(request_)
    out = predict_module.handler(event, lambda_context())
    assert out["statusCode"] == 400
    error = json.loads(out["body"])["error"]
    assert error["type"] == "PayloadError" and error["field"] == field and rule in error["message"]


@pytest.mark.parametrize(
    ("body", "b64", "rule"),
    [
        ("{not json", False, "is not valid JSON"),
        ("", False, "is empty"),
        ("[1, 2]", False, "must be a JSON object, not an array"),
        ("!!!not base64!!!", True, "is marked base64 but is not"),
        (base64.b64encode(b"\xff\xfe").decode(), True, "is marked base64 but is not"),
    ],
)
def test_http_envelope_errors(predict_module, body: str, b64: bool, rule: str) -> None:
    event = load_event("predict-function-url")
    event.update(body=body, isBase64Encoded=b64)
    out = predict_module.handler(event, lambda_context())
    assert out["statusCode"] == 400
    error = json.loads(out["body"])["error"]
    assert error["field"] == "body" and rule in error["message"]


def test_direct_event_that_is_not_an_object(predict_module) -> None:
    with pytest.raises(PayloadError, match="must be a JSON object, not an array"):
        predict_module.handler([[1.0] * 30], lambda_context())


def test_our_own_fault_is_a_500_without_details_and_serving_goes_on(
    predict_module, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args, **kwargs):
        raise MemoryError("secret internal detail")

    monkeypatch.setattr(predict_module.contract, "answer", broken)
    out = predict_module.handler(load_event("predict-function-url"), lambda_context())
    assert out["statusCode"] == 500
    assert "secret" not in out["body"] and "Traceback" not in out["body"]
    assert json.loads(out["body"])["error"]["type"] == "InternalError"
    assert "secret internal detail" in caplog.text  # the log keeps what the caller must not see
    monkeypatch.undo()
    assert predict_module.handler(load_event("predict-function-url"), lambda_context())["statusCode"] == 200


def test_many_rows_at_the_limit_are_served(predict_module) -> None:
    rows = copy.deepcopy(load_event("predict-direct")["instances"]) * (MAX_ROWS // 2)
    out = predict_module.handler({"instances": rows}, lambda_context())
    assert len(out["predictions"]) == MAX_ROWS


def test_both_backends_give_the_same_answers(handlers_env, reference) -> None:
    """Labels identical, probabilities within 1e-5, the same model identity, on rows the model never saw and rows
    far outside the data (the contract allows values up to 1e100)."""
    import importlib

    from sklearn.datasets import load_breast_cancer

    sklearn_backend, onnx_backend = (importlib.import_module(f"lambda_ml_bench.handlers.{m}")
                                    for m in ("predict", "predict_onnx"))
    X, _ = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(1)
    for rows in (X[::7], X[:50] * rng.uniform(0.5, 1.5, X[:50].shape), np.full((3, 30), 1e100), -X[:5]):
        a = sklearn_backend.handler({"instances": rows.tolist()}, lambda_context())
        b = onnx_backend.handler({"instances": rows.tolist()}, lambda_context())
        assert a["predictions"] == b["predictions"] and a["classes"] == b["classes"] and a["model"] == b["model"]
        assert np.abs(np.array(a["probabilities"]) - np.array(b["probabilities"])).max() <= 1e-5


def test_the_onnx_handler_imports_no_scikit_learn_scipy_or_skops(handlers_env) -> None:
    import subprocess
    import sys

    probe = ("import sys, handlers.predict_onnx as h; h.handler({'instances': [[1.0] * 30]}, None); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'skops', 'skl2onnx'}))")
    # handlers/ as Lambda imports it: a top-level package at the zip root
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PACKAGE,
                         env={"MODEL_DIR": str(handlers_env), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "PUT", "PATCH", "OPTIONS", "\ud800", None])
def test_a_method_the_endpoint_does_not_serve_is_a_405_naming_what_it_serves(predict_module, method) -> None:
    """A DELETE with a valid body is not a prediction: 405 and `Allow: POST`, whatever the body says."""
    event = load_event("predict-function-url")
    event["requestContext"]["http"]["method"] = method
    out = predict_module.handler(event, lambda_context())
    assert out["statusCode"] == 405 and out["headers"]["allow"] == "POST"
    error = json.loads(out["body"])["error"]
    assert error["type"] == "MethodNotAllowed" and "send POST" in error["message"]
    out["body"].encode("utf-8")
