"""Helpers the tests share: repository paths, sample events, a Lambda context."""
from __future__ import annotations

import json
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

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


def booster_files(folder: Path) -> dict[str, tuple[Path, Path, Any, Any]]:
    """An XGBoost binary classifier (breast cancer, named features, gaps in training and held-out rows) and a
    LightGBM multiclass one (wine), each as its library's own model file with held-out rows as a CSV with a header:
    {name: (model file, held-out CSV, the booster in this process, the held-out rows as an array)}."""
    import lightgbm
    import xgboost
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.model_selection import train_test_split

    out = {}
    for name, load, suffix in (("cancer-xgboost", load_breast_cancer, ".json"), ("wine-lightgbm", load_wine, ".txt")):
        data = load()
        names = [n.replace(" ", "_").replace("/", "_") for n in data.feature_names]
        X_train, X_test, y_train, _ = train_test_split(data.data, data.target, test_size=0.25, random_state=0,
                                                       stratify=data.target)
        X_train, X_test = X_train.copy(), X_test.copy()
        X_train[::9, 1] = np.nan  # gaps the trees learn a direction for
        X_test[::5, 1] = np.nan
        path = folder / f"{name}{suffix}"
        if suffix == ".json":
            booster = xgboost.train({"objective": "binary:logistic", "max_depth": 4, "seed": 0},
                                    xgboost.DMatrix(X_train, label=y_train, feature_names=names), 40)
        else:
            booster = lightgbm.train({"objective": "multiclass", "num_class": 3, "num_leaves": 8, "verbose": -1,
                                      "seed": 0}, lightgbm.Dataset(X_train, label=y_train, feature_name=names), 40)
        booster.save_model(str(path))
        csv = folder / f"{name}-held-out.csv"
        lines = [",".join(names)] + [",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X_test]
        csv.write_text("\n".join(lines) + "\n")
        out[name] = (path, csv, booster, X_test)
    return out


def booster_pipelines(folder: Path) -> dict[str, tuple[Path, Path, Any, Any]]:
    """scikit-learn pipelines wrapping an XGBoost and a LightGBM estimator (breast cancer; an imputer in front, gaps
    in the held-out rows), as skops files with held-out rows as a CSV: {name: (skops file, CSV, the pipeline in this
    process, the held-out rows)}."""
    import skops.io
    from lightgbm import LGBMClassifier
    from sklearn.datasets import load_breast_cancer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from xgboost import XGBClassifier

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    X_test = X_test.copy()
    X_test[::5, 1] = np.nan
    out = {}
    for name, estimator in (("cancer-xgb-pipeline", XGBClassifier(n_estimators=30, max_depth=3, random_state=0)),
                            ("cancer-lgbm-pipeline", LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1,
                                                                     random_state=0))):
        pipeline = make_pipeline(SimpleImputer(strategy="median"), estimator).fit(X_train, y_train)
        path = folder / f"{name}.skops"
        skops.io.dump(pipeline, path)
        csv = folder / f"{name}-held-out.csv"
        csv.write_text("\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X_test) + "\n")
        out[name] = (path, csv, pipeline, X_test)
    return out


def refusing(modules: list[str]) -> str:
    """Python source to start a probe with: importing any of `modules` (or below them) fails, as it would from a
    layer that does not hold them."""
    return f"""
import sys
BLOCKED = {modules!r}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError("removed from the layer: " + name)
sys.meta_path.insert(0, Refuse())
"""


def colours_lightgbm(folder: Path) -> tuple[Path, Path, Any, Any]:
    """A LightGBM classifier fitted on a DataFrame with a string category (its file keeps the category names) and a
    tenth of a number missing: (model file, held-out CSV with a header, the booster, the held-out DataFrame)."""
    import lightgbm
    import pandas as pd

    rng = np.random.default_rng(0)
    colours = pd.Categorical(rng.choice(["red", "green", "blue", "amber"], 600))
    frame = pd.DataFrame({"x": rng.normal(size=600), "colour": colours, "z": rng.normal(size=600)})
    frame.loc[::10, "x"] = np.nan
    y = ((frame.x.fillna(0) > 0) ^ (frame.colour == "red")).astype(int)
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "min_data_per_group": 5, "seed": 0},
                             lightgbm.Dataset(frame, label=y), 30)
    path = folder / "colours-lightgbm.txt"
    booster.save_model(str(path))
    held_out = frame.sample(80, random_state=1)
    held_out.astype({"colour": object}).to_csv(folder / "colours-held-out.csv", index=False)
    return path, folder / "colours-held-out.csv", booster, held_out
