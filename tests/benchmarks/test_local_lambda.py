"""The local Lambda: cold and warm invokes per architecture, and what the service adds over AWS's Runtime Interface
Emulator running the same runtime directly."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from support import free_port, load_event

from lambda_ml_bench.build.platforms import host_architecture
from lambda_ml_bench.local_lambda import functions
from lambda_ml_bench.local_lambda.environment import Environment
from lambda_ml_bench.sandbox.roots import HOST_ENV, rie_binary

pytestmark = pytest.mark.integration
HOST = host_architecture().name


def poster(port: int, path: str, body: bytes):
    """POSTs `body` over one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.connect()
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
    """The same function's runtime under the AWS Runtime Interface Emulator, started directly (no service), in the
    same sandbox with the same CPU and memory allotment as the service gives it: the comparison measures the
    service, not a different CPU share. Yields the RIE's port."""
    from lambda_ml_bench.sandbox.allotment import open_hierarchy

    hierarchy, why = open_hierarchy(f"lambda-ml-bench-direct-{os.getpid()}")
    assert hierarchy is not None, why
    env = Environment(specs["probe-events"], hierarchy)  # for its command, its variables and its allotment
    env.storage, env.allotment = None, hierarchy.new(env.spec.memory_size, "env-direct")
    port, env.runtime_api = free_port(), f"127.0.0.1:{free_port()}"
    files = env.allotment.procs_files()  # the runtime joins the groups (a shell writes its pid), the RIE stays out
    joins = " && ".join(f'echo $$ > "${i + 1}"' for i in range(len(files))) + f' && shift {len(files)} && exec "$@"'
    rie = subprocess.Popen([str(rie_binary(lambda _: None)), "--runtime-interface-emulator-address",
                            f"127.0.0.1:{port}", "--runtime-api-address", env.runtime_api,
                            "/bin/sh", "-c", joins, "sh", *files, *env.command()],
                           env={**HOST_ENV, **env.lambda_variables()}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        yield port
    finally:
        os.killpg(rie.pid, 9)
        rie.wait()
        env.allotment.remove()
        hierarchy.remove()


@pytest.mark.benchmark(group="local-warm-trivial-invoke")
def test_warm_trivial_invoke_through_the_service(benchmark, local_lambda: str, direct_rie: int) -> None:
    """Each timed call through the service follows one call to the RIE directly, timed the same way."""
    port = int(local_lambda.rsplit(":", 1)[1])
    post, conn = poster(port, "/2015-03-31/functions/probe-events/invocations", b"{}")
    direct, direct_conn = poster(direct_rie, "/2015-03-31/functions/function/invocations", b"{}")
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
    """A new execution environment each round: sandbox start, runtime init, model load, one prediction."""
    benchmark.group = f"local-predict-cold-{arch}"
    spec = specs[f"predict-{arch}"]
    payload = json.dumps(load_event("predict-direct")).encode()
    envs: list[Environment] = []

    def fresh():
        envs.append(Environment(spec))
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
