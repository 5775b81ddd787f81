"""Helpers the tests share: repository paths, sample events, a Lambda context."""
from __future__ import annotations

import json
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from lambda_ml_bench.aws import ACCOUNT, REGION
from lambda_ml_bench.paths import REPO

LMB = [sys.executable, "-m", "lambda_ml_bench"]  # the command line, `lmb`, as this interpreter runs it

EVENTS = REPO / "tests" / "events"


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_event(name: str) -> dict:
    """A sample Lambda event from tests/events/."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def lambda_context(remaining_ms: int = 300_000, name: str = "lambda-ml-bench-test"):
    """The runtime interface client's own context class, with a deadline `remaining_ms` from now."""
    from awslambdaric.lambda_context import LambdaContext

    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return LambdaContext("req-0001", None, None, int(time.time() * 1000) + remaining_ms, arn)


def probe_definition(folder: Path, **settings) -> Path:
    """A definition file with one function: the tests' probe on x86_64, named `p` (memory, timeout... as given)."""
    definition = folder / "fns.json"
    definition.write_text(json.dumps({"functions": [{"name": "p", "handler": "app.handler", "architecture": "x86_64",
                                                     "code": str(REPO / "tests/fixtures/probe"), **settings}]}))
    return definition


def start_service(definition: Path, port: int, state_dir: Path | None = None):
    """`lmb local up` in the foreground, once it serves (its first line is the endpoint); what it is configured to
    kept in `state_dir` (default: beside the definition file)."""
    import subprocess

    state_dir = state_dir or definition.parent / "state"
    proc = subprocess.Popen([*LMB, "local", "up", "--port", str(port), "--functions", str(definition),
                             "--state-dir", str(state_dir)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdout.readline().decode().strip() == f"http://127.0.0.1:{port}"
    return proc


@contextmanager
def local_service(specs: list, **settings):
    """A local Lambda served from this process for the span of a `with`: (server, a boto3 client of it)."""
    import threading

    import boto3

    from lambda_ml_bench.local_lambda.service import LocalLambda

    server = LocalLambda(free_port(), specs, **settings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                                   aws_access_key_id="local", aws_secret_access_key="local")
    finally:
        server.shutdown_all()
        server.server_close()


def raw_http(address: tuple[str, int], data: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are to a local server; the answer's status, headers (lower-case keys) and body."""
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(data)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = s.recv(65536)
            if not chunk:
                break
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            body += s.recv(65536)
        return int(lines[0].split()[1]), headers, body


# --- tabular models as they come: string categories, missing values ------------------------------------------
NUMBERS, CATEGORIES = ["alcohol", "malic_acid", "proline"], ["colour", "hue_band"]


def wine_frame():
    """Wine with two columns turned into string categories and some values missing, as tabular data comes."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_wine

    X, y = load_wine(as_frame=True, return_X_y=True)
    X = X[["alcohol", "malic_acid", "color_intensity", "hue", "proline"]].copy()
    X["colour"] = pd.cut(X.pop("color_intensity"), [0, 3.5, 7, 99], labels=["pale", "medium", "deep"]).astype(object)
    X["hue_band"] = pd.qcut(X.pop("hue"), 3, labels=["low", "mid", "high"]).astype(object)
    rng = np.random.default_rng(0)
    X.loc[rng.random(len(X)) < 0.1, "alcohol"] = np.nan
    X.loc[rng.random(len(X)) < 0.1, "hue_band"] = np.nan
    return X, y.map({0: "barolo", 1: "grignolino", 2: "barbera"})


def categorical_pipeline(handle_unknown: str = "ignore"):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = wine_frame()
    columns = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMBERS),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown=handle_unknown)),
         CATEGORIES)])
    return make_pipeline(columns, LogisticRegression(max_iter=1000)).fit(X, y)


def boosted_pipeline():
    """String categories one-hot encoded (an unknown or missing one ignored), numbers with gaps passed through to a
    gradient boosting model that takes NaN itself: exportable to ONNX with typed inputs."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = wine_frame()
    columns = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORIES)],
                                remainder="passthrough")
    return make_pipeline(columns, HistGradientBoostingClassifier(max_iter=50, random_state=0)).fit(X, y)


def as_rows(frame) -> list[list]:
    """A DataFrame's rows as a request's values: NaN as None."""
    return [[None if v != v else v for v in row] for row in frame.astype(object).itertuples(index=False)]
