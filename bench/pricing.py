"""Lambda's prices and the cost model: duration by architecture, the request fee, the billed INIT."""
from __future__ import annotations

from dataclasses import dataclass

from local_lambda.logs import billed_ms  # noqa: F401  (Lambda's rounding, beside the REPORT line)

# us-east-1, on-demand, as published by AWS; true on this date. Change here and nowhere else.
PRICES_AS_OF = "2026-11-01"
REGION = "us-east-1"
GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # USD per GB-second of billed duration
REQUEST = 0.20 / 1_000_000  # USD per request, both architectures
MB_PER_GB = 1024  # Lambda bills memory in GB of 1,024 MB


@dataclass(frozen=True)
class Invocation:
    """What one REPORT line says about an invocation."""

    architecture: str
    memory_mb: int
    billed_ms: float  # Billed Duration; since 1 Aug 2025 it includes the INIT phase of a cold start


def cost(inv: Invocation) -> float:
    """USD for one invocation: its billed GB-seconds at the architecture's rate, plus the request fee."""
    gb_seconds = (inv.memory_mb / MB_PER_GB) * (inv.billed_ms / 1000.0)
    return gb_seconds * GB_SECOND[inv.architecture] + REQUEST


def per_million(inv: Invocation) -> float:
    return cost(inv) * 1_000_000


def price_performance(arm: Invocation, x86: Invocation) -> float:
    """arm64's cost over x86_64's for the same work: below 1 means Graviton is cheaper."""
    return cost(arm) / cost(x86)
