"""Shared fixtures: the built layers, a compiled ELF object, the handlers with their model."""
from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from support import LAYERS, MODEL_DIR, REPO

from layer_build.platforms import ARCHITECTURES


@pytest.fixture(scope="session")
def built() -> dict[str, dict]:
    """Manifests of both python3.13 layers as `make layers` leaves them (built now if missing or stale)."""
    subprocess.run(["make", "-s", "layers"], cwd=REPO, check=True)
    return {a: json.loads((LAYERS / f"sklearn-py313-{a}.json").read_text()) for a in ARCHITECTURES}


@pytest.fixture(scope="session")
def unpacked(built: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each layer zip unpacked: {arch: .../python}, as Lambda shows it under /opt."""
    out = {}
    for arch in built:
        dest = tmp_path_factory.mktemp(arch)
        with zipfile.ZipFile(LAYERS / f"sklearn-py313-{arch}.zip") as zf:
            zf.extractall(dest)
        out[arch] = dest / "python"
    return out


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
def handlers_env() -> Path:
    """The trained model (`make model`), and the environment the handlers read at import."""
    import os

    subprocess.run(["make", "-s", "model"], cwd=REPO, check=True)
    os.environ["MODEL_DIR"] = str(MODEL_DIR)
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3538")
    return MODEL_DIR


@pytest.fixture(scope="session")
def predict_module(handlers_env):
    import importlib

    return importlib.import_module("handlers.predict")


@pytest.fixture(scope="session")
def benchmark_module(handlers_env):
    import importlib

    return importlib.import_module("handlers.benchmark")


# --- the local Lambda ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def local_lambda(built: dict) -> str:
    """The local Lambda serving tests/fixtures/local-functions.json; its endpoint URL."""
    import os
    import signal
    import sys
    import time
    import urllib.request

    subprocess.run(["make", "-s", "package", "sandbox"], cwd=REPO, check=True)
    from local_lambda.rie import free_port

    port = free_port()
    log = open(REPO / "dist" / "local-test-service.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "local_lambda", "up", "--port", str(port), "--idle-seconds", "120",
                             "--functions", str(REPO / "tests" / "fixtures" / "local-functions.json")],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/2015-03-31/functions/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the local Lambda exited: {(REPO / 'dist' / 'local-test-service.log').read_text()[-2000:]}")
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
