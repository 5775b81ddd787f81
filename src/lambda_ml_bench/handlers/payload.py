"""Parsing and validating events: the HTTP envelope, prediction requests, benchmark workloads."""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from .errors import PayloadError


# --- the HTTP envelope (Function URL, API Gateway HTTP API v2) -------------------------------
def is_http_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("version") == "2.0" and "requestContext" in event


def http_method(event: dict) -> object:
    """The HTTP method of a payload format 2.0 event (Function URL, API Gateway HTTP API)."""
    http = event["requestContext"].get("http") if isinstance(event["requestContext"], dict) else None
    return http.get("method") if isinstance(http, dict) else None


def http_body(event: dict) -> dict:
    """The JSON object in an HTTP v2 event's body (base64 bodies decoded first)."""
    body = event.get("body")
    if body is None or body == "":
        raise PayloadError("body", "is empty; send a JSON object")
    if not isinstance(body, str):
        raise PayloadError("body", "must be a string")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # not base64, a non-ASCII character in it, or not UTF-8 inside
            raise PayloadError("body", "is marked base64 but is not base64-encoded UTF-8") from None
    try:
        data = json.loads(body)
    except json.JSONDecodeError as err:
        raise PayloadError("body", f"is not valid JSON ({err.msg} at position {err.pos})") from None
    except ValueError as err:  # an integer of more digits than Python converts
        raise PayloadError("body", f"is not usable JSON ({err})") from None
    except RecursionError:
        raise PayloadError("body", "is nested too deeply") from None
    return as_object(data, "body")


def as_object(data: Any, field: str | None = None) -> dict:
    if not isinstance(data, dict):
        raise PayloadError(field, f"must be a JSON object, not {json_type(data)}")
    return data


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def reject_unknown(data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise PayloadError(unknown[0], f"is not a known field; allowed: {', '.join(sorted(allowed))}")


# --- benchmark workloads ----------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """The published study's workload; every field can be set in the event."""

    n_features: int = 10
    n_samples: int = 512
    n_test_samples: int = 1024
    cycles: int = 40
    kernel: str = "rbf"
    C: float = 1.0
    gamma: str | float = "scale"
    seed: int = 42

    def as_dict(self) -> dict:
        return asdict(self)


# Bounds keep one invocation inside Lambda's memory and time: documented in the README.
INT_BOUNDS = {
    "n_features": (2, 20_000),
    "n_samples": (10, 10_000),
    "n_test_samples": (1, 100_000),
    "cycles": (1, 1_000),
    "seed": (0, 2**32 - 1),
}
KERNELS = ("linear", "poly", "rbf", "sigmoid")
GAMMA_WORDS = ("scale", "auto")
MAX_C = 1e6
MAX_CELLS = 50_000_000  # (n_samples + n_test_samples) * n_features: 400 MB of float64
# Memory an invocation needs besides the data: the runtime and the imported libraries (the local Lambda's Max Memory
# Used for a small workload: 84 MB), and libsvm's kernel cache (n_samples squared float32 values, at most SVC's
# cache_size of 200 MB). Per cell of data: generating it peaks at 3 copies (measured: 3.0x), and libsvm keeps its
# own copy of the training rows as (index, value) pairs, 2x more (counted for every cell, to be safe).
BASELINE_MB = 100
SVC_CACHE_MAX = 200 * 1024 * 1024
BYTES_PER_CELL = 8 * (3 + 2)


def max_cells(memory_mb: int | None, n_samples: int = 512) -> int:
    """The largest workload that fits the function's memory with `n_samples` training rows (and the absolute cap)."""
    if memory_mb is None:
        return MAX_CELLS
    cache = min(SVC_CACHE_MAX, n_samples * n_samples * 4)
    return max(0, min(MAX_CELLS, ((memory_mb - BASELINE_MB) * 1024 * 1024 - cache) // BYTES_PER_CELL))


def parse_workload(data: dict, memory_mb: int | None = None) -> Workload:
    reject_unknown(data, set(Workload.__dataclass_fields__))
    values: dict[str, Any] = {}
    for field, (low, high) in INT_BOUNDS.items():
        if field in data:
            value = data[field]
            if type(value) is not int:
                raise PayloadError(field, f"must be an integer, not {json_type(value)}")
            if not low <= value <= high:
                raise PayloadError(field, f"must be between {low:,} and {high:,}, got {value:,}")
            values[field] = value
    if "kernel" in data:
        if data["kernel"] not in KERNELS:
            raise PayloadError("kernel", f"must be one of {', '.join(KERNELS)}")
        values["kernel"] = data["kernel"]
    if "C" in data:
        values["C"] = _positive_number(data["C"], "C", MAX_C)
    if "gamma" in data:
        gamma = data["gamma"]
        values["gamma"] = gamma if gamma in GAMMA_WORDS else _positive_number(
            gamma, "gamma", 1e6, also=f" or one of {', '.join(GAMMA_WORDS)}")
    workload = Workload(**values)
    cells = (workload.n_samples + workload.n_test_samples) * workload.n_features
    limit = max_cells(memory_mb, workload.n_samples)
    if cells > limit:
        where = f" at {memory_mb:,} MB" if memory_mb is not None and limit < MAX_CELLS else ""
        raise PayloadError("n_features", f"(n_samples + n_test_samples) x n_features is {cells:,}; "
                                         f"at most {limit:,}{where}")
    return workload


def _positive_number(value: Any, field: str, high: float, also: str = "") -> float:
    if type(value) not in (int, float):
        raise PayloadError(field, f"must be a positive number{also}, not {json_type(value)}")
    if not (math.isfinite(value) and 0 < value <= high):
        raise PayloadError(field, f"must be a positive number up to {high:g}{also}, got {value}")
    return float(value)
