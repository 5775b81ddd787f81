"""Helpers the tests share: repository paths, sample events, a Lambda context."""
from __future__ import annotations

import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYERS = REPO / "dist" / "layers"
EVENTS = REPO / "tests" / "events"
MODEL_DIR = REPO / "dist" / "model"


def load_event(name: str) -> dict:
    """A sample Lambda event from tests/events/."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def lambda_context(remaining_ms: int = 300_000, name: str = "lambda-ml-bench-test"):
    """The runtime interface client's own context class, with a deadline `remaining_ms` from now."""
    from awslambdaric.lambda_context import LambdaContext

    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    return LambdaContext("req-0001", None, None, int(time.time() * 1000) + remaining_ms, arn)
