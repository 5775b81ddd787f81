"""The Runtime API the service serves each runtime, spoken to as a runtime (or hostile function code) would: events
handed over with Lambda's headers, answers and errors matched to their request, and nothing a runtime sends (a wrong
request id, a malformed request, an oversized answer) reaching further than its own connection."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from lambda_ml_bench import lambda_facts
from lambda_ml_bench.local_lambda.runtime_api import HEAD_MAX, Event, RuntimeApi
from lambda_ml_bench.sandbox.network import listener

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
_OPEN: list[socket.socket] = []  # the test's connections, closed after it


@pytest.fixture
def api():
    served = RuntimeApi(listener(("127.0.0.1", 0)))
    yield served
    served.close()
    while _OPEN:
        _OPEN.pop().close()


def connect(api: RuntimeApi) -> socket.socket:
    conn = socket.create_connection(api.listener.getsockname(), timeout=10)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _OPEN.append(conn)
    return conn


def response(conn: socket.socket) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return 0, {}, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += conn.recv(65536)
    return int(lines[0].split()[1]), headers, body


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST /2018-06-01/runtime/{path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


def event(request_id: str = "r-1") -> Event:
    return Event(request_id, b'{"x": 1}', int(time.time() * 1000) + 3000, "arn:aws:lambda:us-east-1:0:function:f",
                 "Root=1-0-0;Sampled=0")


def invoke_later(api: RuntimeApi, ev: Event, timeout_s: float = 5.0) -> dict:
    """api.invoke in a thread (the service's side); its outcome lands in the returned dict."""
    out: dict = {}
    out["thread"] = threading.Thread(
        target=lambda: out.update(outcome=api.invoke(ev, time.monotonic() + timeout_s, lambda: True)))
    out["thread"].start()
    return out


def finished(out: dict):
    out["thread"].join(10)
    return out["outcome"]


def test_an_event_reaches_the_runtime_with_lambdas_headers_and_its_answer_comes_back(api: RuntimeApi) -> None:
    runtime = connect(api)
    runtime.sendall(NEXT)
    assert api.wait_ready(time.monotonic() + 5, lambda: True) == "ready"  # INIT ends with the first request
    out = invoke_later(api, event())
    status, headers, body = response(runtime)
    assert status == 200 and body == b'{"x": 1}'
    assert headers["lambda-runtime-aws-request-id"] == "r-1"
    assert headers["lambda-runtime-invoked-function-arn"].endswith(":function:f")
    assert int(headers["lambda-runtime-deadline-ms"]) > time.time() * 1000
    runtime.sendall(post("invocation/r-1/response", b'{"ok": true}'))
    assert response(runtime)[0] == 202
    outcome = finished(out)
    assert (outcome.kind, outcome.body) == ("response", b'{"ok": true}') and outcome.done_ns >= outcome.delivered_ns


def test_an_error_is_the_runtimes_own_document_or_one_made_from_its_header(api: RuntimeApi) -> None:
    runtime = connect(api)
    for request_id, body, header, expected in [
            ("r-1", b'{"errorType": "ValueError", "errorMessage": "no"}', "", {"errorType": "ValueError"}),
            ("r-2", b"not json", "Lambda-Runtime-Function-Error-Type: Custom.Error\r\n",
             {"errorType": "Custom.Error", "errorMessage": "not json"})]:
        runtime.sendall(NEXT)
        out = invoke_later(api, event(request_id))
        response(runtime)
        runtime.sendall(post(f"invocation/{request_id}/error", body, header))
        assert response(runtime)[0] == 202
        outcome = finished(out)
        assert outcome.kind == "error" and expected.items() <= json.loads(outcome.body).items()


def test_another_request_id_is_refused_and_the_invocation_still_waits_for_its_own(api: RuntimeApi) -> None:
    runtime, out = delivered(api, "r-1")
    runtime.sendall(post("invocation/someone-else/response", b'"stolen"'))
    status, _, body = response(runtime)
    assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"
    runtime.sendall(post("invocation/r-1/response", b'"mine"'))
    assert response(runtime)[0] == 202 and finished(out).body == b'"mine"'


def delivered(api: RuntimeApi, request_id: str = "r-1"):
    """(the runtime's connection, the invocation's future): an event handed to a runtime that asked for one."""
    runtime = connect(api)
    runtime.sendall(NEXT)
    out = invoke_later(api, event(request_id))
    response(runtime)
    return runtime, out


def chunked(data: bytes, size: int = 1024 * 1024) -> bytes:
    """An answer posted in chunks of `size` bytes."""
    head = b"POST /2018-06-01/runtime/invocation/r-1/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + b"".join(b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n"
                           for i in range(0, len(data), size)) + b"0\r\n\r\n"


@pytest.mark.parametrize("how", ["content-length", "chunked"])  # chunked: read through, never held whole
def test_an_answer_over_lambdas_limit_is_function_response_size_too_large(api: RuntimeApi, how: str) -> None:
    runtime, out = delivered(api)
    big = b"x" * (lambda_facts.RESPONSE_BYTES + 1)
    runtime.sendall(post("invocation/r-1/response", big) if how == "content-length" else chunked(big))
    status, _, body = response(runtime)
    assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
    assert finished(out).kind == "too-large"


def test_a_chunked_answer_after_expect_100_continue_is_read_whole(api: RuntimeApi) -> None:
    runtime, out = delivered(api)
    runtime.sendall(b"POST /2018-06-01/runtime/invocation/r-1/response HTTP/1.1\r\nHost: x\r\n"
                    b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert runtime.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
    runtime.sendall(b"3\r\n{\"a\r\n5\r\n\": 1}\r\n0\r\n\r\n")
    assert response(runtime)[0] == 202 and finished(out).body == b'{"a": 1}'


def test_an_init_error_ends_init_with_its_document(api: RuntimeApi) -> None:
    runtime = connect(api)
    document = b'{"errorType": "Runtime.ImportModuleError", "errorMessage": "Unable to import module"}'
    runtime.sendall(post("init/error", document))
    assert response(runtime)[0] == 202
    assert api.wait_ready(time.monotonic() + 5, lambda: True) == "init-error" and api.init_error == document


def test_a_runtime_that_never_answers_times_out_and_a_late_answer_counts_for_nothing(api: RuntimeApi) -> None:
    runtime = connect(api)
    runtime.sendall(NEXT)
    outcome = invoke_later(api, event(), timeout_s=0.3)
    response(runtime)
    assert finished(outcome).kind == "timeout"
    runtime.sendall(post("invocation/r-1/response", b'"late"'))
    assert response(runtime)[0] == 400


@pytest.mark.parametrize("garbage", [
    b"\x00\xff not http at all\r\n\r\n",
    b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n",
    b"POST /2018-06-01/runtime/invocation/r/response HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"GET /x HTTP/1.1\r\nA: " + b"b" * (HEAD_MAX + 10),
], ids=["binary", "header-without-colon", "negative-length", "head-too-long"])
def test_malformed_requests_close_their_own_connection_and_the_api_keeps_serving(api: RuntimeApi,
                                                                                 garbage: bytes) -> None:
    hostile = connect(api)
    hostile.sendall(garbage)
    try:
        assert hostile.recv(100) == b""  # closed, no answer
    except ConnectionResetError:  # closed with the rest of its bytes unread
        pass
    runtime = connect(api)
    runtime.sendall(NEXT)
    out = invoke_later(api, event())
    assert response(runtime)[0] == 200
    runtime.sendall(post("invocation/r-1/response", b"1"))
    assert response(runtime)[0] == 202 and finished(out).kind == "response"


def test_unknown_paths_and_methods_are_answered_and_the_connection_stays_usable(api: RuntimeApi) -> None:
    runtime = connect(api)
    runtime.sendall(b"GET /2018-06-01/runtime/elsewhere HTTP/1.1\r\n\r\n")
    assert response(runtime)[0] == 405
    runtime.sendall(post("invocation/r-1/sideways", b"{}"))
    assert response(runtime)[0] == 404
    runtime.sendall(NEXT)
    out = invoke_later(api, event())
    assert response(runtime)[0] == 200
    runtime.sendall(post("invocation/r-1/response", b"2"))
    assert response(runtime)[0] == 202 and finished(out).body == b"2"


def test_a_runtime_gone_before_it_took_the_event_has_no_delivery_time_of_an_earlier_one(api: RuntimeApi) -> None:
    runtime, first = delivered(api, "r-1")
    runtime.sendall(post("invocation/r-1/response", b"1"))
    assert response(runtime)[0] == 202 and finished(first).delivered_ns > 0
    gone = api.invoke(event("r-2"), time.monotonic() + 5, lambda: False)  # the runtime exited between invocations
    assert gone.kind == "exited" and gone.delivered_ns == 0
