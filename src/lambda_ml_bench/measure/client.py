"""The Lambda client every measuring step uses: botocore's own retries (standard mode: throttles, transient errors
and connection failures, with exponential backoff and jitter), each retry counted through botocore's event hooks."""
from __future__ import annotations

import os
import threading
from collections import Counter

MAX_ATTEMPTS = 8  # an invocation, its first call included
READ_TIMEOUT_S = 960  # longer than Lambda's 900 s maximum


class RetryCount:
    """Retries per error code, counted from botocore's `needs-retry` event: every failed attempt is noted there,
    and the response's RetryAttempts says how many of them botocore retried."""

    def __init__(self) -> None:
        self.by_code: Counter[str] = Counter()
        self._attempts = threading.local()
        self._lock = threading.Lock()

    def attach(self, client) -> None:
        client.meta.events.register("needs-retry.lambda", self._saw_attempt)
        client.meta.events.register("after-call.lambda", self._after_call)
        client.meta.events.register("after-call-error.lambda", self._after_error)

    def _saw_attempt(self, response=None, caught_exception=None, **_) -> None:
        codes = self._pending()
        if caught_exception is not None:
            codes.append(type(caught_exception).__name__)
        elif response is not None and response[0].status_code >= 400:
            codes.append(response[1].get("Error", {}).get("Code") or str(response[0].status_code))

    def _after_call(self, parsed=None, **_) -> None:
        self._settle((parsed or {}).get("ResponseMetadata", {}).get("RetryAttempts", 0))

    def _after_error(self, **_) -> None:
        self._settle(len(self._pending()) - 1)  # the last failure was not retried

    def _pending(self) -> list[str]:
        if not hasattr(self._attempts, "codes"):
            self._attempts.codes = []
        return self._attempts.codes

    def _settle(self, retried: int) -> None:
        codes, self._attempts.codes = self._pending(), []
        with self._lock:
            self.by_code.update(codes[:max(0, retried)])

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_code.values())


def lambda_client(region: str | None = None, endpoint_url: str | None = None, localstack: bool = False,
                  retries: RetryCount | None = None, attempts: int = MAX_ATTEMPTS, connections: int = 10):
    """boto3's Lambda client against AWS, an endpoint (the local Lambda), or LocalStack, retrying the SDK's way
    (`attempts` 1: never, as a replay wants: a throttle is what happened)."""
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": attempts}, read_timeout=READ_TIMEOUT_S,
                    connect_timeout=10, max_pool_connections=connections)
    if localstack:
        import localstack_client.session

        client = localstack_client.session.Session().client("lambda", config=config)
    else:
        import boto3

        if endpoint_url:
            region = region or os.environ.get("AWS_REGION", "us-east-1")
            client = boto3.client("lambda", endpoint_url=endpoint_url, region_name=region,
                                  aws_access_key_id="local", aws_secret_access_key="local", config=config)
        else:
            client = boto3.client("lambda", region_name=region, config=config)
    if retries is not None:
        retries.attach(client)
    return client
