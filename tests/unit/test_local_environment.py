"""What an execution environment hands its runtime: Lambda's variables and the function's own, nothing of the host."""
from __future__ import annotations

from pathlib import Path

from lambda_ml_bench.build.platforms import ARCHITECTURES
from lambda_ml_bench.local_lambda.environment import Environment
from lambda_ml_bench.local_lambda.functions import FunctionSpec
from lambda_ml_bench.sandbox.isolation import RESERVED
from lambda_ml_bench.sandbox.roots import HOST_ENV, sandboxed


def spec(**kw) -> FunctionSpec:
    return FunctionSpec(name="f", handler="app.handler", architecture=kw.pop("architecture", "arm64"), memory_size=1769,
                        timeout=3, code=Path("/nonexistent"), **kw)


def test_host_openblas_variables_never_reach_a_function(monkeypatch) -> None:
    """Lambda sets no OPENBLAS_CORETYPE; under QEMU a host core type makes arm64 OpenBLAS use its generic kernel."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    monkeypatch.setenv("LD_PRELOAD", "/host/lib.so")
    for arch in ("arm64", "x86_64"):
        env = Environment(spec(architecture=arch)).runtime_environment()
        assert not {k for k in env if k.startswith("OPENBLAS") or k == "LD_PRELOAD"}
        assert env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1769"


def test_the_functions_variables_follow_lambdas_and_cannot_be_reserved_ones() -> None:
    env = Environment(spec(environment={"MODEL_DIR": "/var/task/model"}))
    runtime = env.runtime_environment()
    assert runtime["MODEL_DIR"] == "/var/task/model"
    assert set(env.lambda_variables()) <= RESERVED | {"AWS_LAMBDA_FUNCTION_TIMEOUT"}


def test_variables_reach_bubblewrap_as_arguments_and_its_own_environment_is_fixed(monkeypatch) -> None:
    from lambda_ml_bench.sandbox import roots as sandbox

    monkeypatch.setattr(sandbox, "tool", lambda name: f"/usr/bin/{name}")  # nothing installed is needed here
    command = sandboxed(ARCHITECTURES["arm64"], Path("/root"), ["/usr/bin/python3.13"], {"/opt": Path("/layer")},
                        {"PATH": "/evil", "X": "1"})
    assert command[0].startswith("/") and "--clearenv" in command
    i = command.index("--clearenv")
    assert command[i:].index("--setenv") > 0 and ["--setenv", "PATH", "/evil"] == command[
        command.index("--setenv"):command.index("--setenv") + 3]
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup"):
        assert flag in command
    assert command[command.index("--uid") + 1] == "993" and command[command.index("--cap-drop") + 1] == "ALL"
    assert command[-4:] == ["/qemu", "-cpu", "neoverse-n1", "/usr/bin/python3.13"]
    assert command[command.index("/usr/bin/qemu-aarch64-static") + 1] == "/qemu"
    assert HOST_ENV["PATH"].startswith("/usr/sbin") and set(HOST_ENV) == {"PATH", "LANG"}
