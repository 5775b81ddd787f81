"""The local Lambda: cold and warm invokes per architecture, and what the service adds over the RIE."""
from __future__ import annotations

import http.client
import json
import os
import socket
import time
from pathlib import Path

import pytest
from support import load_event

from lambda_ml_bench.build.platforms import host_architecture
from lambda_ml_bench.local_lambda import functions
from lambda_ml_bench.local_lambda.environment import Environment
from lambda_ml_bench.sandbox.roots import rie_binary

pytestmark = pytest.mark.integration
HOST = host_architecture().name


def poster(port: int, path: str, body: bytes, sock: socket.socket | None = None):
    """POSTs `body` over one kept-alive connection (`sock`, when given: an environment's own network)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    if sock is None:
        conn.connect()
    else:
        conn.sock = sock
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post() -> bytes:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200, data
        return data

    return post, conn


def extra(benchmark, role: str, arch: str, **kw) -> None:
    emulated = arch != HOST
    benchmark.extra_info.update({"role": role, "architecture": arch, "emulated": emulated, **kw})
    if emulated:
        benchmark.extra_info["note"] = "emulated under QEMU: says nothing about Graviton speed"


@pytest.fixture(scope="module")
def specs(definitions: Path) -> dict:
    return {s.name: s for s in functions.from_file(definitions)}


@pytest.fixture(scope="module")
def direct_rie(specs: dict, local_lambda: str):
    """The same function's environment, started directly, with the same CPU and memory allotment as the
    service gives it (so the comparison measures the service, not a different CPU share)."""
    from lambda_ml_bench.sandbox.allotment import open_hierarchy

    hierarchy, why = open_hierarchy(f"lambda-ml-bench-direct-{os.getpid()}")
    assert hierarchy is not None, why
    env = Environment(specs["probe-events"], rie_binary(lambda _: None), hierarchy)
    env.start()
    yield env
    env.stop()
    hierarchy.remove()


@pytest.mark.benchmark(group="local-warm-trivial-invoke")
def test_warm_trivial_invoke_through_the_service(benchmark, local_lambda: str, direct_rie: Environment) -> None:
    """Each timed call through the service follows one call to the RIE directly, timed the same way."""
    port = int(local_lambda.rsplit(":", 1)[1])
    post, conn = poster(port, "/2015-03-31/functions/probe-events/invocations", b"{}")
    direct, direct_conn = poster(direct_rie.port, "/2015-03-31/functions/function/invocations", b"{}",
                                 direct_rie.connect(timeout=600))
    post(), direct()
    direct_ms: list[float] = []

    def setup():
        started = time.perf_counter()
        direct()
        direct_ms.append((time.perf_counter() - started) * 1e3)

    extra(benchmark, "measured", HOST, target_ratio=1.2, baseline="the RIE directly")
    out = benchmark.pedantic(post, setup=setup, rounds=300, iterations=1, warmup_rounds=5)
    benchmark.extra_info["interleaved_baseline_ms"] = direct_ms
    assert json.loads(out)["echo"] == {}
    conn.close()
    direct_conn.close()


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_cold_invoke_of_the_predict_handler(benchmark, specs: dict, local_lambda: str, arch: str) -> None:
    """A new execution environment each round: RIE start, runtime init, model load, one prediction."""
    benchmark.group = f"local-predict-cold-{arch}"
    spec = specs[f"predict-{arch}"]
    payload = json.dumps(load_event("predict-direct")).encode()
    envs: list[Environment] = []

    def fresh():
        envs.append(Environment(spec, rie_binary(lambda _: None)))
        return (), {}

    def cold():
        envs[-1].start()
        return envs[-1].invoke(payload)

    extra(benchmark, "measured", arch)
    try:
        result = benchmark.pedantic(cold, setup=fresh, rounds=3 if arch == HOST else 1, iterations=1)
    finally:
        for env in envs:
            env.stop()
    assert result.function_error is None and result.init_ms is not None
    benchmark.extra_info.update({"init_duration_ms": result.init_ms, "max_memory_mb": result.max_memory_mb})


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_warm_invoke_of_the_predict_handler(benchmark, local_lambda: str, arch: str) -> None:
    benchmark.group = f"local-predict-warm-{arch}"
    port = int(local_lambda.rsplit(":", 1)[1])
    post, conn = poster(port, f"/2015-03-31/functions/predict-{arch}/invocations",
                        json.dumps(load_event("predict-direct")).encode())
    post()
    extra(benchmark, "measured", arch)
    assert json.loads(benchmark(post))["predictions"] == [0, 1]
    conn.close()
