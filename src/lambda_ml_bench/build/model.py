"""`make model`: the served model as skops (no pickle) with model.json: the built-in one, or a user's, checked."""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import re
import sys
import zipfile
from pathlib import Path

from lambda_ml_bench.build import onnx_export, schema
from lambda_ml_bench.build.archive import FIXED_TIME
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.platforms import ARCHITECTURES, DEFAULT_PYTHON, RUNTIMES, Runtime
from lambda_ml_bench.build.wheels import function_lock_path, lock_path, read_lock
from lambda_ml_bench.files import atomic_write, write_json
from lambda_ml_bench.paths import DIST

MODEL_DIR = DIST / "model"
MODEL_NAME = "breast-cancer-svc"


def train():
    """Scaling plus an SVC with calibrated probabilities, on a dataset scikit-learn ships."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    # SVC(probability=True) is deprecated from scikit-learn 1.9; this is its documented replacement.
    model = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False))
    model.fit(X_train, y_train)
    return model, float(model.score(X_test, y_test)), X_test


def normalised_zip(data: bytes) -> bytes:
    """The same model as the same bytes.

    skops stamps the current time on its zip entries and names array files and object references
    after id() (memory addresses); entries get a fixed time, and names and references are
    numbered in order of first appearance in the schema.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        schema = src.read("schema.json").decode()
        names = dict.fromkeys(re.findall(r'"file": "([^"]+)"', schema))
        renamed = {old: f"{i:04d}{Path(old).suffix}" for i, old in enumerate(names)}
        schema = re.sub(r'"file": "([^"]+)"', lambda m: f'"file": "{renamed[m[1]]}"', schema)
        ids = {old: str(i) for i, old in enumerate(dict.fromkeys(re.findall(r'"__id__": (\d+)', schema)))}
        schema = re.sub(r'"__id__": (\d+)', lambda m: f'"__id__": {ids[m[1]]}', schema)
        entries = {"schema.json": schema.encode()}
        entries.update({renamed.get(i.filename, i.filename): src.read(i)
                        for i in src.infolist() if i.filename != "schema.json"})
        for name in sorted(entries):
            fixed = zipfile.ZipInfo(name, FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o100644 << 16
            dst.writestr(fixed, entries[name])
    return out.getvalue()


class ModelImportError(BuildError):
    """A model that cannot be packaged: untrusted types, a module or scikit-learn version the layer lacks."""


# Import names of the layer's and the package's distributions, where they differ from the distribution name.
IMPORT_NAMES = {"scikit-learn": "sklearn", "xgboost-cpu": "xgboost"}


# A skops model naming one of these is served on the boosting layer (scikit-learn and both boosters, no pandas).
BOOSTER_MODULES = {"xgboost", "lightgbm"}


def layer_modules(rt: Runtime, kind: str = "sklearn") -> tuple[set[str], str]:
    """Top-level modules a packaged model may use (the standard library, the layer's and the package's own
    distributions) and the layer's scikit-learn version (the same on both architectures: one lock each)."""
    pins = read_lock(lock_path(ARCHITECTURES["x86_64"], rt, kind)) + read_lock(function_lock_path(rt))
    names = {IMPORT_NAMES.get(p.name, p.name.replace("-", "_")) for p in pins}
    sklearn = next(p.version for p in pins if p.name == "scikit-learn")
    return set(sys.stdlib_module_names) | names, sklearn


def schema_facts(data: bytes) -> tuple[set[str], set[str]]:
    """The top-level modules a skops file's objects come from, and the scikit-learn versions they were fitted with."""
    schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))
    modules, versions = set(), set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("__module__"), str):
                modules.add(node["__module__"].split(".")[0])
            version = node.get("_sklearn_version")
            if isinstance(version, dict) and version.get("__class__") == "str":
                versions.add(json.loads(version["content"]) if version.get("is_json") else version["content"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return modules, versions


def describe(estimator) -> dict:
    """What the model is, as model.json records it and the handler checks it."""
    from sklearn.base import is_classifier, is_regressor

    if not (is_classifier(estimator) or is_regressor(estimator)):
        raise ModelImportError(f"{type(estimator).__name__} is neither a classifier nor a regressor; the predict "
                               "handler serves those two")
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise ModelImportError(f"{type(estimator).__name__} has no n_features_in_: is it fitted?")
    names = getattr(estimator, "feature_names_in_", None)
    classes = getattr(estimator, "classes_", None)
    return {
        "task": "classifier" if is_classifier(estimator) else "regressor", "n_features": int(n_features),
        "feature_names": [str(n) for n in names] if names is not None else None,
        "classes": __import__("numpy").asarray(classes).tolist() if classes is not None else None,
        "outputs": [o for o in ("predict_proba", "decision_function") if hasattr(estimator, o)],
    }


def package_model(data: bytes, name: str, version: str, trusted: list[str], rt: Runtime, out_dir: Path,
                  extra: dict | None = None, check_rows: tuple | None = None,
                  limits: tuple[int, float] | None = None) -> dict:
    """Check a skops file against the trust list and the layer, export it to ONNX where that is faithful on
    `check_rows` ((rows, what they are); synthetic rows when None), then write model.skops, model.onnx and
    model.json into out_dir."""
    import skops.io

    from lambda_ml_bench.handlers.model import NotAnArchive, inspect_archive

    source = (extra or {}).get("source", name)
    try:
        inspect_archive(data, *(limits or ()))
    except NotAnArchive as err:
        raise ModelImportError(f"{source} is not a skops file ({err}); a pickle or joblib file you made "
                               "yourself converts with --from-pickle") from None
    except ValueError as err:
        raise ModelImportError(f"{source} is refused before loading: {err}") from None
    try:
        untrusted = sorted(skops.io.get_untrusted_types(data=data))
    except Exception as err:  # noqa: BLE001 - not a skops file at all
        raise ModelImportError(f"{source} is not a skops file ({err}); a pickle or joblib file you made "
                               "yourself converts with --from-pickle") from None
    from lambda_ml_bench.handlers.model import refuse_never_trusted

    if refusal := refuse_never_trusted(sorted({*untrusted, *trusted})):
        raise ModelImportError(refusal)
    refused = [t for t in untrusted if t not in trusted]
    if refused:
        raise ModelImportError("the model holds types beyond skops' safe defaults; name each you trust with --trust "
                               f"(TRUST=\"...\" through make): {' '.join(refused)}")
    modules, versions = schema_facts(data)
    kind = "boosting" if modules & BOOSTER_MODULES else "sklearn"
    allowed, layer_sklearn = layer_modules(rt, kind)
    missing = sorted(modules - allowed)
    if missing:
        raise ModelImportError(f"the model needs modules the layer does not hold: {', '.join(missing)}")
    if versions and versions != {layer_sklearn}:
        raise ModelImportError(f"the model was fitted with scikit-learn {', '.join(sorted(versions))}; the layer has "
                               f"scikit-learn {layer_sklearn}: refit it with {layer_sklearn}, or lock the layer to "
                               f"its version (src/lambda_ml_bench/build/sklearn-requirements.in, make lock)")
    try:
        estimator = skops.io.loads(data, trusted=untrusted)
    except Exception as err:  # noqa: BLE001 - skops raises many types for a malformed file
        raise ModelImportError(f"{source} cannot be loaded: {type(err).__name__}: {err}") from None
    from lambda_ml_bench.handlers.model import MODEL_FILE

    manifest = {"name": name, "version": version, "sha256": hashlib.sha256(data).hexdigest(), "format": "skops",
                "trusted_types": untrusted, **describe(estimator),
                "sklearn": next(iter(versions)) if versions else layer_sklearn, **(extra or {})}
    rows = None if check_rows is None else _in_model_order(check_rows[0], manifest["feature_names"],
                                                           check_rows[2] if len(check_rows) > 2 else None)
    if rows is not None and {len(r) for r in rows} != {manifest["n_features"]}:
        raise ModelImportError(f"{check_rows[1]} have {len(rows[0])} columns; the model takes "
                               f"{manifest['n_features']} (a header naming its features picks them)")
    manifest["inputs"], manifest["frame"] = schema.infer(estimator, rows)
    if kind == "boosting":
        if manifest["frame"]:
            raise ModelImportError("the pipeline wraps a booster and selects its columns by name, so it takes a "
                                   "DataFrame: pandas beside scikit-learn and the boosters does not fit Lambda's "
                                   "250 MB; select the columns by position, or save the booster's own model file")
        manifest["backend"] = "boosting"
    if rows is not None:
        schema.check_rows(manifest["inputs"], manifest["frame"], rows, check_rows[1])
    onnx_data, manifest["onnx"] = _export_onnx(estimator, manifest, check_rows and (rows, check_rows[1]))
    return _write(out_dir, MODEL_FILE, data, onnx_data, manifest)


def _write(out_dir: Path, file: str, data: bytes, onnx_data: bytes | None, manifest: dict) -> dict:
    """The model's file, its ONNX export and model.json into out_dir; every other format's model file and a
    previous export removed, so nothing of another model ships beside this one. The same model and manifest are not
    rewritten, so nothing downstream rebuilds."""
    from lambda_ml_bench.handlers.contract import FORMATS
    from lambda_ml_bench.handlers.model import MANIFEST_FILE

    files = {file: data, onnx_export.ONNX_FILE: onnx_data,
             **{other: None for fmt in FORMATS.values() for other in fmt[1] if other != file}}
    if _unchanged(out_dir, files, manifest):
        return manifest
    for each, content in files.items():
        if content is None:
            (out_dir / each).unlink(missing_ok=True)
        else:
            atomic_write(out_dir / each, content)
    write_json(out_dir / MANIFEST_FILE, manifest)
    return manifest


def _export_onnx(estimator, manifest: dict, check_rows: tuple | None) -> tuple[bytes | None, dict]:
    """(model.onnx, model.json's "onnx" entry): the export with its proof, or no file and the reason."""
    try:
        rows, checked_on = check_rows if check_rows is not None else onnx_export.synthetic_rows(
            estimator, manifest["n_features"])
        export = onnx_export.export(estimator, manifest, [list(r) for r in rows], checked_on)
    except onnx_export.NotConvertible as err:
        serves = manifest.get("backend") or ("scikit-learn" if manifest["format"] == "skops" else manifest["format"])
        return None, {"exported": False, "reason": f"not exported to ONNX: {err}; the {serves} backend serves it"}
    return export.data, {"exported": True, **export.facts}


def _unchanged(out_dir: Path, files: dict[str, bytes | None], manifest: dict) -> bool:
    from lambda_ml_bench.handlers.model import MANIFEST_FILE

    try:
        return (all((out_dir / f).read_bytes() == data if data is not None else not (out_dir / f).exists()
                    for f, data in files.items())
                and json.loads((out_dir / MANIFEST_FILE).read_text()) == json.loads(json.dumps(manifest)))
    except (OSError, ValueError):
        return False


def write_model(version: str, out_dir: Path = MODEL_DIR, rt: Runtime | None = None) -> dict:
    """`make model`: the built-in model, trained here."""
    import skops.io

    from lambda_ml_bench.handlers.model import BUILTIN_TRUSTED_TYPES

    model, accuracy, held_out = train()
    data = normalised_zip(skops.io.dumps(model))
    return package_model(data, MODEL_NAME, version, BUILTIN_TRUSTED_TYPES, rt or RUNTIMES[DEFAULT_PYTHON], out_dir,
                         {"test_accuracy": round(accuracy, 4), "dataset": "sklearn.datasets.load_breast_cancer"},
                         check_rows=(held_out, f"the {len(held_out)} held-out rows of load_breast_cancer"))


def import_model(source: Path, trusted: list[str], version: str, out_dir: Path = MODEL_DIR,
                 from_pickle: bool = False, name: str | None = None, rt: Runtime | None = None,
                 check_data: Path | None = None, limits: tuple[int, float] | None = None) -> dict:
    """`lmb model import FILE`: a user's skops file (or, with from_pickle, a pickle or joblib
    file the user made, converted to skops here) checked and packaged into out_dir."""
    import skops.io

    if not source.is_file():
        raise ModelImportError(f"{source} is not a file")
    if (backend := booster_format(source)) is not None and not from_pickle:
        return package_booster(source, backend, version, out_dir, name,
                               check_rows=_read_rows(check_data) if check_data else None)
    if from_pickle:
        import joblib  # reads plain pickles too; this unpickles: only for files you made yourself

        data = normalised_zip(skops.io.dumps(joblib.load(source)))
    else:
        data = source.read_bytes()
    return package_model(data, name or source.stem, version, trusted, rt or RUNTIMES[DEFAULT_PYTHON], out_dir,
                         {"source": source.name}, check_rows=_read_rows(check_data) if check_data else None,
                         limits=limits)


# A booster's own model file, by its name: XGBoost's JSON or UBJSON, LightGBM's text.
BOOSTER_SUFFIXES = {".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm"}


def booster_format(source: Path) -> str | None:
    return BOOSTER_SUFFIXES.get(source.suffix.lower())


def package_booster(source: Path, backend: str, version: str, out_dir: Path, name: str | None = None,
                    check_rows: tuple | None = None) -> dict:
    """An XGBoost or LightGBM model file (data only: no trust list), read by its own library, described in
    model.json (its inputs numbers, or a LightGBM model's string categories, missing allowed: both boosters route
    NaN), exported to ONNX where faithful, and written as model.<backend>.<ext> into out_dir."""
    from lambda_ml_bench.handlers import booster as boosters
    from lambda_ml_bench.handlers.contract import FORMATS
    from lambda_ml_bench.handlers.model import MAX_UNPACKED_MB

    data = source.read_bytes()
    if len(data) > MAX_UNPACKED_MB * 1024 * 1024:
        raise ModelImportError(f"{source} is over the {MAX_UNPACKED_MB:,} MiB a function loads")
    try:
        booster = boosters.read_booster(backend, source)
        described = boosters.facts(backend, booster)
    except ValueError as err:
        raise ModelImportError(f"{source} is not a model this toolkit serves: {err}") from None
    file = next(f for f in FORMATS[backend][1] if f.endswith(source.suffix.lower()))
    library = __import__(backend)
    names = described["feature_names"]
    manifest = {"name": name or source.stem, "version": version, "sha256": hashlib.sha256(data).hexdigest(),
                "format": backend, "file": file, "trusted_types": [], "sklearn": None,
                **{k: described[k] for k in ("task", "n_features", "feature_names", "classes", "outputs")},
                backend: {"version": library.__version__, "objective": described["objective"]},
                "source": source.name, "frame": False,
                "inputs": described["inputs"]}
    rows = None
    if check_rows is not None:
        rows = _in_model_order(check_rows[0], names, check_rows[2] if len(check_rows) > 2 else None)
        if {len(r) for r in rows} != {described["n_features"]}:
            raise ModelImportError(f"{check_rows[1]} have {len(rows[0])} columns; the model takes "
                                   f"{described['n_features']} (a header naming its features picks them)")
        schema.check_rows(manifest["inputs"], False, rows, check_rows[1])
    if rows is None:
        onnx_data, manifest["onnx"] = None, {
            "exported": False, "reason": f"not exported to ONNX: no rows to prove it on; pass held-out rows with "
                                         f"--check-data FILE.csv (CHECK_DATA= through make); the {backend} backend "
                                         "serves it"}
    else:
        onnx_data, manifest["onnx"] = _export_onnx(booster, manifest, (rows, check_rows[1]))
    return _write(out_dir, file, data, onnx_data, manifest)


MAX_CHECK_ROWS = 100_000


def _read_rows(path: Path) -> tuple:
    """Held-out rows (to learn what the model takes where it does not say, and to prove the ONNX export on): a CSV,
    one row per line; a header line naming the model's features puts the columns in the model's order. A value is a
    number when it reads as one, missing when empty (or NA, NaN, null), true/false, else a string."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as fh:
            lines = list(itertools.islice(csv.reader(fh), MAX_CHECK_ROWS + 2))
    except (OSError, ValueError, csv.Error) as err:
        raise ModelImportError(f"cannot read check rows from {path}: {err}") from None
    lines = [line for line in lines if line]
    header = None
    if lines and not any(isinstance(_value(v), (int, float)) for v in lines[0]):
        header, lines = [v.strip() for v in lines[0]], lines[1:]
    if not lines:
        raise ModelImportError(f"{path} holds no rows")
    if len(lines) > MAX_CHECK_ROWS:
        raise ModelImportError(f"{path} holds more than {MAX_CHECK_ROWS:,} rows: give a held-out sample")
    if len(set(map(len, lines))) != 1:
        raise ModelImportError(f"{path}: every row must have the same number of values")
    return [[_value(v) for v in line] for line in lines], f"the {len(lines)} rows of {path.name}", header


MISSING = {"", "na", "nan", "null", "none"}


def _value(text: str):
    text = text.strip()
    if text.lower() in MISSING:
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _in_model_order(rows, names: list[str] | None, header: list[str] | None) -> list[list]:
    """Check rows as lists in the model's column order: by the CSV's header when it names the model's features
    (other columns, such as the target, are left out)."""
    rows = [list(r) for r in (rows.tolist() if hasattr(rows, "tolist") else rows)]
    if header is None or names is None:
        return rows
    missing = [n for n in names if n not in header]
    if missing:
        raise ModelImportError(f"the check rows' header ({', '.join(header)[:300]}) does not name the model's "
                               f"features {', '.join(missing)[:300]}")
    where = [header.index(n) for n in names]
    return [[row[k] for k in where] for row in rows]
