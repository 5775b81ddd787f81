"""The published study's workload per feature count (measure/study.py): native here, arm64 emulated through the
local Lambda."""
from __future__ import annotations

import base64
import json
import os
import time

import pytest
from sklearn.svm import SVC

from lambda_ml_bench.build.platforms import host_architecture
from lambda_ml_bench.handlers import runtime
from lambda_ml_bench.handlers.payload import Workload
from lambda_ml_bench.handlers.workload import make_data
from lambda_ml_bench.measure import study
from lambda_ml_bench.sandbox.allotment import CONTENDED, longest_wait_ns, run_delays, share_given

ROUNDS = {10: 40, 100: 40, 1000: 10, 10000: 3}  # the study's 40 cycles where a few minutes allow
EMULATED_FEATURES = [10, 100, 1000]  # under QEMU numeric work takes 20 to 45 times as long
HOST = host_architecture()


def versions() -> dict:
    env = runtime.describe()
    return {"versions": {k: env[k] for k in ("python", "numpy", "scipy", "sklearn")}, "blas": env["blas"]}


@pytest.mark.parametrize("phase", ["fit", "predict"])
@pytest.mark.parametrize("n_features", study.FEATURES)
def test_study_native(benchmark, n_features: int, phase: str) -> None:
    benchmark.group = f"study-native-{n_features}-features"
    X_train, y_train, X_test, y_test = make_data(Workload(n_features=n_features))
    assert (len(X_train), len(X_test)) == (study.TRAIN_SAMPLES, study.TEST_SAMPLES)
    fitted = SVC().fit(X_train, y_train)
    call = (lambda: SVC().fit(X_train, y_train)) if phase == "fit" else (lambda: fitted.predict(X_test))
    delays, cpu, started = run_delays([os.getpid()]), time.process_time_ns(), time.perf_counter_ns()
    benchmark.pedantic(call, rounds=ROUNDS[n_features], iterations=1, warmup_rounds=1)
    # one core is what SVC uses: did this busy host give it one? (flagged in the report when it did not)
    given = share_given(time.perf_counter_ns() - started, time.process_time_ns() - cpu,
                        longest_wait_ns(delays, run_delays([os.getpid()])), 0, 1.0)
    benchmark.extra_info.update({**study.phase_info(HOST.name, False, n_features, phase, given), **versions()})
    assert fitted.predict(X_test).shape == y_test.shape


@pytest.mark.integration
@pytest.mark.parametrize("n_features", EMULATED_FEATURES)
def test_study_emulated_arm64(benchmark, lambda_client, n_features: int) -> None:
    """One invocation of the benchmark handler (3 cycles) on arm64 under QEMU; the handler's medians."""
    benchmark.group = f"study-emulated-arm64-{n_features}-features"
    event = json.dumps(study.event(n_features, cycles=3)).encode()

    def invoke() -> tuple[dict, str]:
        response = lambda_client.invoke(FunctionName="benchmark-arm64", Payload=event, LogType="Tail")
        out = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, out
        return out, base64.b64decode(response["LogResult"]).decode()

    out, log = benchmark.pedantic(invoke, rounds=1, iterations=1)
    assert out["environment"]["machine"] == "aarch64" and out["cycles_done"] == 3
    contended = CONTENDED.search(log)
    measurement = study.Measurement("arm64", True, n_features, out["fit"]["median_ms"], out["predict"]["median_ms"],
                                    "handler", float(contended[1]) / float(contended[2]) if contended else None)
    benchmark.extra_info.update({**measurement.extra_info(), "note": "emulated under QEMU: says nothing about "
                                 "Graviton speed"})
