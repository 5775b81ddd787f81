"""Lambda's CPU share per memory size (one vCPU at 1,769 MB, six at 10,240 MB)."""
from __future__ import annotations

import pytest

from lambda_ml_bench import lambda_facts


@pytest.mark.parametrize("memory_mb, vcpus", [(128, 128 / 1769), (885, 885 / 1769), (1769, 1.0), (3538, 2.0),
                                              (8845, 5.0),
                                              (10240, 6.0)])
def test_lambdas_share_of_cpu_follows_memory(memory_mb: int, vcpus: float) -> None:
    assert lambda_facts.vcpus(memory_mb) == pytest.approx(vcpus)
