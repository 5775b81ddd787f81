"""Figures a busy host distorted are flagged: a thread that waited for a CPU beyond its own quota's throttling."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lambda_ml_bench.measure.recommend import options, recommend
from lambda_ml_bench.sandbox.allotment import CONTENDED, contention_line, longest_wait_ns, run_delays, share_given

S = 1_000_000_000  # ns


def test_a_thread_that_waited_a_third_of_the_time_is_flagged_with_the_share_it_got() -> None:
    assert share_given(S, int(0.67 * S), int(0.33 * S), 0, 1.0) == pytest.approx(0.67)
    assert share_given(2 * S, int(0.5 * S), int(1.2 * S), 0, 0.5) == pytest.approx(0.5)


def test_waiting_for_the_quota_is_lambdas_own_and_sleeping_is_not_waiting() -> None:
    assert share_given(S, int(0.5 * S), int(0.5 * S), int(0.5 * S), 0.5) is None  # throttled by its own quota
    assert share_given(S, int(0.01 * S), 0, 0, 1.0) is None  # a sleeping handler on a busy host
    assert share_given(S, S, int(0.05 * S), 0, 1.0) is None  # a twentieth is noise


def test_the_line_the_local_lambda_writes_reads_back() -> None:
    m = CONTENDED.search("START\n" + contention_line(0.4, 1.77) + "END\n")
    assert m and (float(m[1]), float(m[2])) == (pytest.approx(0.71, abs=0.01), 1.77)


def test_spinning_beside_more_spinners_than_cores_is_flagged() -> None:
    """Real scheduling: one spinner here and cores + 1 other spinners; this thread must wait for a CPU."""
    hogs = [subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<4: pass"])
            for _ in range((os.cpu_count() or 1) + 1)]
    try:
        time.sleep(0.2)
        before, cpu, started = run_delays([os.getpid()]), time.process_time_ns(), time.perf_counter_ns()
        while time.perf_counter_ns() - started < 1.5 * S:
            pass
        given = share_given(time.perf_counter_ns() - started, time.process_time_ns() - cpu,
                            longest_wait_ns(before, run_delays([os.getpid()])), 0, 1.0)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert given is not None and given < 0.9


def test_configurations_measured_mostly_contended_stay_out_of_the_recommendation() -> None:
    def rec(arch: str, memory: int, duration: float, **kw) -> dict:
        return {"workload": "w", "architecture": arch, "memory_mb": memory, "backend": "sklearn", "cold": False,
                "duration_ms": duration, "cost_usd": duration * 1e-8, "emulated": False, **kw}

    recs = [rec("x86_64", 1769, 100.0), rec("x86_64", 1769, 100.0),
            rec("x86_64", 3538, 10.0, contended=0.5), rec("x86_64", 3538, 10.0, contended=0.5)]
    by_memory = {o.memory_mb: o for o in options(recs)}
    assert by_memory[3538].contended == 2 and by_memory[3538].distorted and not by_memory[1769].distorted
    (r,), notes = recommend(recs)
    assert r.fastest.memory_mb == 1769 and any("could not give their environment its CPU share" in n for n in notes)
