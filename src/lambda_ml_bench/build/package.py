"""`make package`: the function zip (handlers, model, skops), deterministic, with a manifest."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lambda_ml_bench import spec
from lambda_ml_bench.build import archive, slim
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.interpreters import find_python
from lambda_ml_bench.build.platforms import ARCHITECTURES, FUNCTION_RESERVE, Runtime
from lambda_ml_bench.build.wheels import download, function_lock_path, pip_install, read_lock
from lambda_ml_bench.files import write_json
from lambda_ml_bench.handlers.contract import ModelSpec
from lambda_ml_bench.paths import DIST, PACKAGE

FUNCTION_DIR = DIST / "function"
TASK_ROOT = "/var/task"


def build_package(rt: Runtime, model_dir: Path, out_dir: Path = FUNCTION_DIR,
                  work_dir: Path = DIST / "build" / "function", say=print) -> dict:
    name = f"function-{rt.tag}"
    final_zip, final_manifest = out_dir / f"{name}.zip", out_dir / f"{name}.json"
    final_zip.unlink(missing_ok=True)
    final_manifest.unlink(missing_ok=True)
    model_manifest = json.loads((model_dir / "model.json").read_text())
    model_spec = ModelSpec.from_manifest(model_manifest)

    shutil.rmtree(work_dir, ignore_errors=True)
    root = work_dir / "task"
    lock = function_lock_path(rt)
    pins = read_lock(lock)
    say(f"[{name}] dependencies: {', '.join(f'{p.name} {p.version}' for p in pins)}")
    # Pure-Python wheels: any architecture's tags select them.
    wheels = download(ARCHITECTURES["x86_64"], rt, pins, lock)
    pip_install(root, ARCHITECTURES["x86_64"], rt, next(iter(wheels.values())).parent, lock)
    slim.remove_bytecode(root)
    slim.remove_scripts(root)
    shutil.copytree(PACKAGE / "handlers", root / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(model_dir, root / "model", ignore=shutil.ignore_patterns("*.partial"))
    python = find_python(rt.python)
    if python:
        slim.compile_bytecode(root, python, TASK_ROOT)
    else:
        say(f"[{name}] WARNING: no Python {rt.python}: the package ships without bytecode")

    staged = work_dir / f"{name}.zip"
    archive.write_zip([(root, "")], staged)
    sha_hex, sha_b64 = archive.digest(staged)
    manifest = {
        "package": name, "runtime": rt.name, "architectures": sorted(ARCHITECTURES),
        "handlers": {key: h.handler for key, h in spec.load().serving(model_spec.backends).items()},
        "zip": {"file": final_zip.name, "sha256": sha_hex, "sha256_base64": sha_b64,
                "zipped_bytes": staged.stat().st_size, "unzipped_bytes": archive.unzipped_size(staged)},
        "dependencies": {p.name: p.version for p in pins},
        "model": {**{k: model_manifest[k] for k in ("name", "version", "sha256", "n_features", "format")},
                  "onnx_exported": model_spec.onnx.get("exported", False), "backends": list(model_spec.backends)},
        "bytecode": bool(python),
    }
    if manifest["zip"]["unzipped_bytes"] > FUNCTION_RESERVE:
        raise BuildError(f"{name} is {manifest['zip']['unzipped_bytes']:,} bytes unzipped, over the "
                         f"{FUNCTION_RESERVE:,} bytes the layer build reserves for it")
    write_json(final_manifest, manifest)
    os.replace(staged, final_zip)
    say(f"[{name}] done: {os.path.relpath(final_zip)} ({manifest['zip']['zipped_bytes'] / 1e6:.2f} MB)")
    return manifest
