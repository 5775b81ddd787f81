"""Environment variable names and defaults, in one place."""
from __future__ import annotations

import os
from pathlib import Path

from .lambda_facts import whole_vcpus

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # /var/task on Lambda

MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"  # set by Lambda, in MB
MODEL_DIR_ENV = "MODEL_DIR"  # where model.skops and model.json live


def memory_mb() -> int | None:
    value = os.environ.get(MEMORY_ENV)
    return int(value) if value and value.isdigit() else None


def vcpus() -> int | None:
    """The vCPUs this function's memory size buys (os.cpu_count() shows the host's), None outside Lambda."""
    memory = memory_mb()
    return whole_vcpus(memory) if memory is not None else None


def model_dir() -> Path:
    return Path(os.environ.get(MODEL_DIR_ENV) or PACKAGE_ROOT / "model")
