"""Lambda's prices and the one cost definition every report uses.

Cost per million = one million invocations as deployed: billed GB-seconds of each invocation at the
architecture's rate, plus the request fee. Billed duration is Lambda's rule (lambda_facts.py):
the handler duration plus the INIT phase of a cold start (billed since 1 August 2025), rounded up to
the millisecond.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from lambda_ml_bench.lambda_facts import DEFAULT_REGION, MB_PER_GB, PRICES, Prices, billed_ms


class PriceWarning(UserWarning):
    """A region whose prices are not in the table: another region's stand in."""


def prices(region: str = DEFAULT_REGION) -> tuple[str, Prices]:
    """The prices of `region`, or us-east-1's with a PriceWarning when the table lacks it."""
    if region in PRICES:
        return region, PRICES[region]
    warnings.warn(f"Lambda prices for {region} are not in lambda_facts.py; {DEFAULT_REGION}'s "
                  f"(as of {PRICES[DEFAULT_REGION].as_of}) are used", PriceWarning, stacklevel=2)
    return DEFAULT_REGION, PRICES[DEFAULT_REGION]


@dataclass(frozen=True)
class Invocation:
    """What one REPORT line says about an invocation, for costing."""

    architecture: str
    memory_mb: int
    billed_ms: float  # Billed Duration; since 1 Aug 2025 it includes the INIT phase of a cold start


def cost(inv: Invocation, region: str = DEFAULT_REGION) -> float:
    """USD for one invocation: its billed GB-seconds at the architecture's rate, plus the request fee."""
    _, p = prices(region)
    gb_seconds = (inv.memory_mb / MB_PER_GB) * (inv.billed_ms / 1000.0)
    return gb_seconds * p.gb_second[inv.architecture] + p.request


def per_million(inv: Invocation, region: str = DEFAULT_REGION) -> float:
    return cost(inv, region) * 1_000_000


def per_million_of(architecture: str, memory_mb: int, duration_ms: float, init_ms: float | None = None,
                   region: str = DEFAULT_REGION) -> float:
    """Cost per million of invocations that each run `duration_ms` (plus `init_ms` when cold)."""
    return per_million(Invocation(architecture, memory_mb, billed_ms(duration_ms, init_ms)), region)
