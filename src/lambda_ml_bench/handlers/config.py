"""Environment variable names and defaults, in one place."""
from __future__ import annotations

import math
import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # /var/task on Lambda

MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"  # set by Lambda, in MB
MODEL_DIR_ENV = "MODEL_DIR"  # where model.skops and model.json live
MB_PER_VCPU = 1769  # Lambda gives one vCPU per 1,769 MB
MAX_VCPUS = 6


def memory_mb() -> int | None:
    value = os.environ.get(MEMORY_ENV)
    return int(value) if value and value.isdigit() else None


def vcpus_for(memory_mb: int) -> int:
    """Lambda's CPU share: one vCPU per 1,769 MB begun, at most six (10,240 MB gives six)."""
    return max(1, min(MAX_VCPUS, math.ceil(memory_mb / MB_PER_VCPU)))


def vcpus() -> int | None:
    """The vCPUs this function's memory size buys (os.cpu_count() shows the host's), None outside Lambda."""
    memory = memory_mb()
    return vcpus_for(memory) if memory is not None else None


def model_dir() -> Path:
    return Path(os.environ.get(MODEL_DIR_ENV) or PACKAGE_ROOT / "model")
