"""The cost model against figures computed by hand."""
from __future__ import annotations

import pytest

from lambda_ml_bench.lambda_facts import PRICES
from lambda_ml_bench.measure import pricing


def test_a_10_ms_call_at_1024_mb_on_x86_64() -> None:
    # 1 GB x 0.010 s = 0.01 GB-s; x 0.0000166667 = 1.66667e-7; plus the 2e-7 request fee.
    inv = pricing.Invocation("x86_64", 1024, 10)
    assert pricing.cost(inv) == pytest.approx(1.66667e-7 + 2e-7, rel=1e-9)
    assert pricing.per_million(inv) == pytest.approx(0.366667, rel=1e-6)


def test_arm64_duration_is_20_percent_cheaper() -> None:
    # 10,240 MB = 10 GB for 2.5 s = 25 GB-s; x86_64: 25 x 0.0000166667 = 0.0004166675
    x86 = pricing.Invocation("x86_64", 10240, 2500)
    arm = pricing.Invocation("arm64", 10240, 2500)
    assert pricing.cost(x86) == pytest.approx(0.0004166675 + 2e-7, rel=1e-9)
    assert pricing.cost(arm) == pytest.approx(25 * 0.0000133334 + 2e-7, rel=1e-9)
    assert pricing.cost(arm) / pricing.cost(x86) == pytest.approx((0.000333335 + 2e-7) / (0.0004166675 + 2e-7))
    fee = PRICES["us-east-1"].request
    assert (pricing.cost(arm) - fee) / (pricing.cost(x86) - fee) == pytest.approx(0.8, rel=1e-4)


def test_the_request_fee_dominates_millisecond_predictions() -> None:
    inv = pricing.Invocation("arm64", 128, 1)  # 0.125 GB x 0.001 s x 0.0000133334 = 1.666675e-9
    assert pricing.cost(inv) == pytest.approx(2e-7 + 1.666675e-9, rel=1e-9)
    assert PRICES["us-east-1"].request / pricing.cost(inv) > 0.99


def test_billed_duration_rounds_up_and_includes_init() -> None:
    assert pricing.billed_ms(3.01) == 4
    assert pricing.billed_ms(3.0) == 3
    assert pricing.billed_ms(86.01, 18058.47) == 18145


def test_slower_arm64_can_still_be_cheaper() -> None:
    # arm64 takes 1.2x as long: 1.2 x 0.8 = 0.96 of the x86_64 duration cost.
    x86, arm = pricing.Invocation("x86_64", 2048, 1000), pricing.Invocation("arm64", 2048, 1200)
    assert pricing.cost(arm) / pricing.cost(x86) < 1


def test_a_region_without_prices_warns_and_uses_us_east_1s() -> None:
    inv = pricing.Invocation("arm64", 1024, 100)
    with pytest.warns(pricing.PriceWarning, match="prices for ap-south-2 are not in lambda_facts.py"):
        assert pricing.cost(inv, "ap-south-2") == pricing.cost(inv, "us-east-1")
