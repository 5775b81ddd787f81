"""The measuring client retries the SDK's way, and every retry is counted by its error code."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from lambda_ml_bench.measure.client import MAX_ATTEMPTS, RetryCount, lambda_client

CONFIG = {"FunctionName": "f", "MemorySize": 128, "Timeout": 3, "LastUpdateStatus": "Successful"}


def serve(answers: list[tuple[int, dict]]):
    """A loopback server that gives `answers` in order (the last one again when they run out)."""
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers[min(len(calls), len(answers) - 1)]
            calls.append(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status >= 400:
                self.send_header("x-amzn-ErrorType", body["Type"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, calls


THROTTLE = (429, {"Type": "TooManyRequestsException", "message": "Rate exceeded", "Reason": "CallerRateLimitExceeded"})


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.retries.standard as standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def ask(answers: list[tuple[int, dict]]) -> tuple[object, list[str], RetryCount]:
    """GetFunctionConfiguration through the measuring client against `answers`: (outcome, calls, retries); the
    outcome is the answer or the error raised."""
    server, calls = serve(answers)
    retries = RetryCount()
    client = lambda_client(endpoint_url=f"http://127.0.0.1:{server.server_address[1]}", retries=retries)
    try:
        outcome = client.get_function_configuration(FunctionName="f")
    except ClientError as err:
        outcome = err
    finally:
        server.shutdown()
        server.server_close()
        client.close()
    return outcome, calls, retries


def test_throttles_are_retried_and_counted_by_code() -> None:
    outcome, calls, retries = ask([THROTTLE, THROTTLE, (200, CONFIG)])
    assert outcome["MemorySize"] == 128
    assert len(calls) == 3 and retries.by_code == {"TooManyRequestsException": 2} and retries.total == 2


def test_retries_stop_at_the_limit_and_every_retry_is_counted() -> None:
    outcome, calls, retries = ask([THROTTLE])
    assert isinstance(outcome, ClientError) and outcome.response["Error"]["Code"] == "TooManyRequestsException"
    assert len(calls) == MAX_ATTEMPTS and retries.total == MAX_ATTEMPTS - 1


def test_a_refusal_that_retrying_cannot_mend_is_not_retried() -> None:
    outcome, calls, retries = ask([(404, {"Type": "ResourceNotFoundException", "Message": "Function not found: f"})])
    assert isinstance(outcome, ClientError) and outcome.response["Error"]["Code"] == "ResourceNotFoundException"
    assert len(calls) == 1 and retries.total == 0
