"""Lambda handler: the published study's SVM benchmark, timed inside the function."""
from __future__ import annotations

from typing import Any

from . import config, runtime, workload
from .edge import serve
from .payload import parse_workload

BLAS_THREADS = runtime.configure_blas()


def handler(event: Any, context: Any) -> dict:
    cold = runtime.first_invocation()

    def work(request: dict) -> dict:
        w = parse_workload(request, config.memory_mb())
        timings = workload.run(w, context.get_remaining_time_in_millis, config.memory_mb())
        return {
            "workload": w.as_dict(),
            "fit": workload.summary(timings.fit_ms),
            "predict": workload.summary(timings.predict_ms),
            "accuracy": timings.accuracy if timings.fit_ms else None,
            "cycles_done": len(timings.fit_ms),
            "stopped_early": timings.stopped_early,
            "stopped_because": timings.stopped_because,
            "data_ms": timings.data_ms,
            "environment": {**runtime.describe(), "blas_threads_set": BLAS_THREADS},
            "cold": cold,
        }

    return serve(event, work)
