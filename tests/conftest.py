"""Shared fixtures: the built layers, a compiled ELF object, the handlers with their model."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from support import LMB, REPO

from lambda_ml_bench.build.platforms import ARCHITECTURES


# --- what the tests build: through the build's Python modules, into this session's own folder ----------
# A user's dist/ and .venv are never touched (no `make`: its venv rule would recreate .venv).
@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's dist/: layers, model, function package, local Lambda sandbox."""
    return tmp_path_factory.mktemp("dist", numbered=False)


class Lazy(Mapping):
    """{key: value} whose values are made on first use: a layer is built (or unpacked) only when a test asks for it,
    so `make bench` builds the kinds its benchmarks use and no other."""

    def __init__(self, keys, make) -> None:
        self._keys, self._make, self._made = list(keys), make, {}

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        if key not in self._made:
            self._made[key] = self._make(key)
        return self._made[key]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@pytest.fixture(scope="session")
def built(dist: Path, sandbox: Path) -> Mapping[str, dict[str, dict]]:
    """Manifests of every python3.13 layer, {kind: {architecture: manifest}}, each kind built for this session on
    first use (the arm64 ones import-checked in this session's sandbox root)."""
    from lambda_ml_bench.build.backends import BACKENDS
    from lambda_ml_bench.build.build import build_layer
    from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, FUNCTION_RESERVE, RUNTIMES
    from lambda_ml_bench.build.sysdeps import ensure_debian_packages

    ensure_debian_packages({a.strip: a.strip_package for a in ARCHITECTURES.values()}, print)
    return Lazy(BACKENDS, lambda kind: {
        name: build_layer(BACKENDS[kind], arch, RUNTIMES[DEFAULT_PYTHON], FUNCTION_RESERVE, out_dir=dist / "layers",
                          work_dir=dist / "build", say=lambda _: None)
        for name, arch in ARCHITECTURES.items()})


@pytest.fixture(scope="session")
def model_dir(dist: Path) -> Path:
    """The built-in model, trained for this session."""
    from lambda_ml_bench.build.model import write_model

    write_model("1", dist / "model")
    return dist / "model"


@pytest.fixture(scope="session")
def package(dist: Path, model_dir: Path) -> dict:
    """The function package's manifest (handlers and the built-in model), built for this session."""
    from lambda_ml_bench.build.package import build_package
    from lambda_ml_bench.build.platforms import DEFAULT_PYTHON, RUNTIMES

    return build_package(RUNTIMES[DEFAULT_PYTHON], model_dir, out_dir=dist / "function",
                         work_dir=dist / "build-function", say=lambda _: None)


@pytest.fixture(scope="session")
def sandbox(dist: Path):
    """The local Lambda's roots, in this session's folder (LOCAL_LAMBDA_SANDBOX, set for the session only)."""
    from lambda_ml_bench.sandbox.roots import SANDBOX_ENV, prepare_all

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SANDBOX_ENV, str(dist / "sandbox"))
        prepare_all(list(ARCHITECTURES), lambda _: None)
        yield dist / "sandbox"


@pytest.fixture(scope="session")
def definitions(dist: Path, built: dict, package: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/local-functions.json with its dist/ paths pointing at this session's builds."""
    source = REPO / "tests" / "fixtures" / "local-functions.json"
    data = json.loads(source.read_text())
    for fn in data["functions"]:
        fn["code"] = _rebased(fn["code"], source.parent, dist)
        fn["layers"] = [_rebased(layer, source.parent, dist) for layer in fn.get("layers", [])]
        for layer in fn["layers"]:
            if Path(layer).is_relative_to(dist / "layers"):
                built[Path(layer).name.split("-")[0]]  # its kind, built now (KIND-pyXY-ARCH.zip)
    out = tmp_path_factory.mktemp("definitions") / "local-functions.json"
    out.write_text(json.dumps(data, indent=1))
    return out


def _rebased(path: str, base: Path, dist: Path) -> str:
    resolved = (base / path).resolve()
    repo_dist = (REPO / "dist").resolve()
    return str(dist / resolved.relative_to(repo_dist)) if resolved.is_relative_to(repo_dist) else str(resolved)


@pytest.fixture(scope="session")
def unpacked(built: Mapping, dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, dict[str, Path]]:
    """Each layer zip unpacked on first use: {kind: {arch: .../python}}, as Lambda shows it under /opt."""

    def unpack(kind: str) -> dict[str, Path]:
        out = {}
        for arch, manifest in built[kind].items():
            dest = tmp_path_factory.mktemp(f"{kind}-{arch}")
            with zipfile.ZipFile(dist / "layers" / manifest["zip"]["file"]) as zf:
                zf.extractall(dest)
            out[arch] = dest / "python"
        return out

    return Lazy(built, unpack)


@pytest.fixture(scope="session")
def compiled_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real shared object built for this machine, needing a known glibc symbol version."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    tmp = tmp_path_factory.mktemp("elf")
    src = tmp / "ext.c"
    # memcpy is versioned GLIBC_2.14 on x86_64 and GLIBC_2.17 on aarch64.
    src.write_text("#include <string.h>\nvoid copy(char *d, const char *s, size_t n) { memcpy(d, s, n); }\n"
                   "int answer(void) { return 42; }\n")
    out = tmp / "ext.cpython-313-x86_64-linux-gnu.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-g", "-O0", "-o", str(out), str(src)], check=True)
    return out


# --- handlers -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def handlers_env(model_dir: Path):
    """The model, and the environment the handlers read at import: set for the session, restored after it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODEL_DIR", str(model_dir))
        mp.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3538"))
        yield model_dir


BACKENDS = {"sklearn": "lambda_ml_bench.handlers.predict", "onnx": "lambda_ml_bench.handlers.predict_onnx"}


@pytest.fixture(scope="session", params=list(BACKENDS))
def predict_module(request, handlers_env):
    """Each predict handler in turn: every test of the request and response contract runs on both backends."""
    import importlib

    return importlib.import_module(BACKENDS[request.param])


@pytest.fixture(scope="session")
def reference(handlers_env):
    """The packaged model as scikit-learn loads it: what both backends must answer."""
    from lambda_ml_bench.handlers.model import load

    return load(handlers_env).estimator


@pytest.fixture(scope="session")
def benchmark_module(handlers_env):
    import importlib

    return importlib.import_module("lambda_ml_bench.handlers.benchmark")


# --- the local Lambda ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def local_lambda(definitions: Path, sandbox: Path, dist: Path) -> str:
    """The local Lambda serving tests/fixtures/local-functions.json (this session's builds); its endpoint URL."""
    import signal
    import time
    import urllib.request

    from support import free_port

    port = free_port()
    log_path = dist / "local-test-service.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([*LMB, "local", "up", "--port", str(port), "--idle-seconds", "120",
                             "--functions", str(definitions), "--state-dir", str(dist / "local")],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/2015-03-31/functions/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the local Lambda exited: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
    yield endpoint
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def lambda_client(local_lambda: str):
    """boto3's Lambda client against the local Lambda, without retries (throttling must show)."""
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", endpoint_url=local_lambda, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=600))


@pytest.fixture(scope="session")
def sweep_client(local_lambda: str):
    """The client a sweep gets from the command line (botocore's standard retries), against the local Lambda."""
    from lambda_ml_bench.measure.client import lambda_client

    return lambda_client(endpoint_url=local_lambda)
