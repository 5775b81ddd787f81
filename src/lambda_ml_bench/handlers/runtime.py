"""What a handler knows of its execution environment: vCPUs, BLAS threads, versions, cold start."""
from __future__ import annotations

import platform

import numpy
import scipy
import sklearn
from threadpoolctl import threadpool_info, threadpool_limits

from . import config

_invocations = 0


def configure_blas() -> int | None:
    """Match BLAS threads to the vCPUs the memory size buys (os.cpu_count() shows the host's)."""
    threads = config.vcpus()
    if threads is None:
        return None
    threadpool_limits(limits=threads)
    return threads


def first_invocation() -> bool:
    """True exactly once per execution environment: the cold start."""
    global _invocations
    _invocations += 1
    return _invocations == 1


def describe() -> dict:
    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "blas": [
            {k: pool.get(k) for k in ("internal_api", "version", "num_threads", "architecture", "threading_layer")}
            for pool in threadpool_info() if pool.get("user_api") == "blas"
        ],
        "memory_mb": config.memory_mb(),
    }
