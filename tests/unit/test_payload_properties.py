"""Random events against both parsers: a valid result or a documented error, never anything else."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import lambda_context, load_event

from lambda_ml_bench.handlers.errors import PayloadError, safe
from lambda_ml_bench.handlers.payload import Workload, as_object, max_cells, parse_workload

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
numbers = st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
near_rows = st.lists(st.lists(numbers | json_scalars, min_size=28, max_size=31), min_size=0, max_size=4)
predict_requests = (
    st.fixed_dictionaries({"instances": near_rows | json_values})
    | st.fixed_dictionaries(
        {"instances": st.lists(st.lists(numbers, min_size=30, max_size=30), min_size=1, max_size=3)}
    )
    | json_values
)
fields = st.sampled_from(list(Workload.__dataclass_fields__) + ["bogus"])
workload_values = (
    st.integers(-5, 30_000) | st.floats() | st.sampled_from(["rbf", "linear", "scale", "auto", "x"]) | json_scalars
)
workload_requests = st.dictionaries(fields, workload_values, max_size=5) | json_values
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(request=predict_requests)
def test_predict_direct_answers_or_raises_payload_error(predict_module, request) -> None:
    try:
        out = predict_module.handler(request, lambda_context())
    except PayloadError as err:
        named = {safe(k) for k in request} if isinstance(request, dict) else set()
        assert err.field is None or err.field.startswith(("instances", "body")) or err.field in named
        return
    assert len(out["predictions"]) == len(request["instances"]) == len(out["probabilities"])
    assert set(out["model"]) == {"name", "version", "sha256"}


@SETTINGS
@given(request=predict_requests)
def test_predict_http_is_200_or_400_with_a_structured_error(predict_module, request) -> None:
    event = load_event("predict-function-url")
    event["body"] = json.dumps(request)
    out = predict_module.handler(event, lambda_context())
    body = json.loads(out["body"])
    if out["statusCode"] == 200:
        assert set(body) == {"predictions", "probabilities", "classes", "model"}
    else:
        assert out["statusCode"] == 400
        assert set(body["error"]) == {"type", "message", "field"} and body["error"]["type"] == "PayloadError"


@SETTINGS
@given(request=workload_requests)
def test_workload_parser_gives_a_bounded_workload_or_payload_error(request) -> None:
    try:
        workload = parse_workload(as_object(request))
    except PayloadError as err:
        named = {safe(k) for k in request} if isinstance(request, dict) else set()
        assert err.field is None or err.field in named or err.field == "n_features"
        return
    assert 1 <= workload.cycles <= 1_000 and 2 <= workload.n_features <= 20_000
    assert (workload.n_samples + workload.n_test_samples) * workload.n_features <= 50_000_000


@SETTINGS
@given(request=workload_requests, memory=st.integers(128, 10_240))
def test_a_workload_fits_the_functions_memory(request, memory: int) -> None:
    try:
        workload = parse_workload(as_object(request), memory)
    except PayloadError:
        return
    assert (workload.n_samples + workload.n_test_samples) * workload.n_features <= max_cells(memory, workload.n_samples)


bodies = (
    st.text(max_size=50)
    | st.from_regex(r"\{\"instances\": \[\[[0-9]{4000,5000}\]\]\}", fullmatch=True)
    | st.integers(1, 200_000).map(lambda n: "[" * n)
    | st.text(min_size=1, max_size=20).map(lambda t: t + "é")
)


@SETTINGS
@given(body=bodies, base64=st.booleans())
def test_any_http_body_is_200_or_400_never_500(predict_module, body: str, base64: bool) -> None:
    event = {**load_event("predict-function-url"), "body": body, "isBase64Encoded": base64}
    out = predict_module.handler(event, lambda_context())
    assert out["statusCode"] in (200, 400), out


any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)


@SETTINGS
@given(name=any_text, value=json_scalars)
def test_every_error_that_repeats_a_field_name_can_be_logged(predict_module, name: str, value) -> None:
    """Lone surrogates, control characters, anything JSON allows as a field name: the error's text encodes as UTF-8
    on one line, as the runtime client's log needs (a lone surrogate once ended the runtime)."""
    request = {"instances": [[1.0] * 30], name: value} if name != "instances" else {name: value}
    try:
        predict_module.handler(request, lambda_context())
    except PayloadError as err:
        for text in (str(err), err.field or ""):
            text.encode("utf-8")
            assert "\n" not in text and "\r" not in text
