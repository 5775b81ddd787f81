"""Parsing and validating events: the HTTP envelope, prediction requests, benchmark workloads."""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from handlers.errors import PayloadError

MAX_ROWS = 10_000  # rows per prediction request
MAX_ABS_VALUE = 1e100  # larger values overflow the scaler and the RBF kernel into NaN


# --- the HTTP envelope (Function URL, API Gateway HTTP API v2) -------------------------------
def is_http_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("version") == "2.0" and "requestContext" in event


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
        except (binascii.Error, UnicodeDecodeError):
            raise PayloadError("body", "is marked base64 but is not base64-encoded UTF-8") from None
    try:
        data = json.loads(body)
    except ValueError as err:
        raise PayloadError("body", f"is not valid JSON ({err.msg} at position {err.pos})") from None
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


# --- prediction requests ----------------------------------------------------------------------
def parse_instances(data: dict, n_features: int) -> np.ndarray:
    """{"instances": [[...], ...]} -> float64 array (rows x n_features), every value finite."""
    reject_unknown(data, {"instances"})
    if "instances" not in data:
        raise PayloadError("instances", "is required: an array of rows, each an array of numbers")
    rows = data["instances"]
    if not isinstance(rows, list):
        raise PayloadError("instances", f"must be an array of rows, not {json_type(rows)}")
    if not rows:
        raise PayloadError("instances", "must hold at least one row")
    if len(rows) > MAX_ROWS:
        raise PayloadError("instances", f"holds {len(rows)} rows; at most {MAX_ROWS} per request")
    # Checked with C-level passes over the whole batch; the slow per-row search runs only to
    # name the first offending row once something is known to be wrong.
    if set(map(type, rows)) != {list}:
        bad = next(i for i, row in enumerate(rows) if not isinstance(row, list))
        raise PayloadError(f"instances[{bad}]", f"must be an array of numbers, not {json_type(rows[bad])}")
    if set(map(len, rows)) != {n_features}:
        bad = next(i for i, row in enumerate(rows) if len(row) != n_features)
        raise PayloadError(f"instances[{bad}]", f"has {len(rows[bad])} values; the model takes {n_features}")
    if not set(map(type, itertools.chain.from_iterable(rows))) <= {float, int}:
        _raise_first_non_number(rows)
    try:
        array = np.array(rows, dtype=np.float64)
    except OverflowError:
        raise PayloadError("instances", "holds an integer too large for a 64-bit float") from None
    if not np.isfinite(array).all():
        row, col = map(int, np.argwhere(~np.isfinite(array))[0])
        raise PayloadError(f"instances[{row}][{col}]", "must be a finite number (no NaN or infinity)")
    if np.abs(array).max() > MAX_ABS_VALUE:
        row, col = map(int, np.argwhere(np.abs(array) > MAX_ABS_VALUE)[0])
        raise PayloadError(f"instances[{row}][{col}]", f"must be at most {MAX_ABS_VALUE:g} in magnitude")
    return array


def _raise_first_non_number(rows: list[list]) -> None:
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if type(value) not in (float, int):
                raise PayloadError(f"instances[{i}][{j}]", f"must be a number, not {json_type(value)}")


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


def parse_workload(data: dict) -> Workload:
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
    if cells > MAX_CELLS:
        raise PayloadError("n_features", f"(n_samples + n_test_samples) x n_features is {cells:,}; "
                                         f"at most {MAX_CELLS:,}")
    return workload


def _positive_number(value: Any, field: str, high: float, also: str = "") -> float:
    if type(value) not in (int, float):
        raise PayloadError(field, f"must be a positive number{also}, not {json_type(value)}")
    if not (math.isfinite(value) and 0 < value <= high):
        raise PayloadError(field, f"must be a positive number up to {high:g}{also}, got {value}")
    return float(value)
