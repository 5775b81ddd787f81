"""lmb layers | lock | system-deps | model | package | layers-report: the build's commands."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console

from lambda_ml_bench.build import tables
from lambda_ml_bench.build.backends import BACKENDS, backend
from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.platforms import (
    ARCHITECTURES,
    DEFAULT_PYTHON,
    FUNCTION_RESERVE,
    RUNTIMES,
    architecture,
    runtime,
)
from lambda_ml_bench.handlers.model import MAX_EXPANSION, MAX_UNPACKED_MB

console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 110)


def say(message: str) -> None:
    console.print(message, markup=False)


def cmd_build(args: argparse.Namespace) -> None:
    from lambda_ml_bench.build.build import build_layer

    rt = runtime(args.python)
    for kind_name in args.backend:
        for name in args.arch:
            manifest = build_layer(backend(kind_name), architecture(name), rt,
                                   reserve_bytes=args.reserve_mb * 1_000_000, say=say)
            console.print(tables.steps_table(manifest))
            console.print(tables.packages_table(manifest))


def cmd_lock(args: argparse.Namespace) -> None:
    from lambda_ml_bench.build.wheels import lock_runtime, lock_tools

    versions = list(RUNTIMES) if args.python == "all" else [runtime(args.python).python]
    for version in versions:
        say(f"locking {RUNTIMES[version].name}")
        for path in lock_runtime(RUNTIMES[version], say=say):
            say(f"  wrote {path.relative_to(path.parents[2])}")
    say(f"  wrote {lock_tools().name}")


def cmd_system_deps(args: argparse.Namespace) -> None:
    """Install the Debian packages the build needs, or print the command that would."""
    from lambda_ml_bench.build.sysdeps import ensure_debian_packages

    ensure_debian_packages({architecture(a).strip: architecture(a).strip_package for a in args.arch}, say)


def cmd_model(args: argparse.Namespace) -> None:
    from pathlib import Path

    from lambda_ml_bench.build.model import import_model, write_model

    if args.action == "import":
        if not args.file:
            raise BuildError("model import needs the model FILE")
        if args.from_pickle:
            say("--from-pickle unpickles the file: use it only for files you made yourself")
        manifest = import_model(Path(args.file), args.trust, args.version, from_pickle=args.from_pickle,
                                rt=runtime(args.python), check_data=Path(args.check_data) if args.check_data else None,
                                limits=(args.max_unpacked_mb, args.max_expansion))
    else:
        manifest = write_model(args.version, rt=runtime(args.python))
    booster = manifest.get(manifest["format"], {})
    say(f"model {manifest['name']} v{manifest['version']}: a {manifest['task']} of {manifest['n_features']} features"
        f"{' (named)' if manifest['feature_names'] else ''}, outputs {manifest['outputs'] or ['predict']}, "
        + (f"scikit-learn {manifest['sklearn']}, sha256 {manifest['sha256'][:16]}..., trusted types "
           f"{manifest['trusted_types']}" if manifest["format"] == "skops" else
           f"{manifest['format']} {booster.get('version')} ({booster.get('objective')}), sha256 "
           f"{manifest['sha256'][:16]}..., served by predict-{manifest['format']}"))
    kinds = {}
    for i in manifest["inputs"]:
        kinds.setdefault(i["type"], []).append(i)
    plural = {"number": "numbers", "category": "categories", "boolean": "booleans"}
    say("inputs: " + ", ".join(f"{len(c)} {plural[t] if len(c) > 1 else t} ({sum(i['missing'] for i in c)} may be "
                               "null)" for t, c in kinds.items())
        + (", as a DataFrame" if manifest["frame"] else ""))
    onnx = manifest["onnx"]
    reference = "scikit-learn" if manifest["format"] == "skops" else manifest["format"]
    say(f"ONNX export: {onnx['file']}, {onnx['compared']} within {onnx['max_abs_difference']:.1g} of {reference}'s on "
        f"{onnx['checked_on']}" if onnx["exported"] else f"ONNX export: {onnx['reason']}")


def cmd_package(args: argparse.Namespace) -> None:
    from lambda_ml_bench.build.model import MODEL_DIR
    from lambda_ml_bench.build.package import build_package

    build_package(runtime(args.python), MODEL_DIR, say=say)


def cmd_report(args: argparse.Namespace) -> None:
    from lambda_ml_bench.build.report import layers_report

    path = layers_report(runtime(args.python), args.arch, rounds=args.rounds, kind_names=args.backend, say=say)
    console.print(path.read_text(), markup=False)


def register(sub) -> None:
    """Add the build's commands to the command line."""
    arch_help = f"architecture(s): {', '.join(ARCHITECTURES)} (default: all)"

    def arch_and_python(p: argparse.ArgumentParser) -> None:
        p.add_argument("--arch", action="append", help=arch_help)
        p.add_argument("--python", default=DEFAULT_PYTHON, help=f"runtime: {', '.join(RUNTIMES)}")
        p.set_defaults(prepare=normalise)

    def backends(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", action="append", help="the backend(s) to build a layer for, default all: "
                       + "; ".join(f"{k.name} ({k.summary})" for k in BACKENDS.values()))

    p = sub.add_parser("layers", help="build layer zips and manifests into dist/layers/")
    arch_and_python(p)
    backends(p)
    p.add_argument("--reserve-mb", type=int, default=FUNCTION_RESERVE // 1_000_000,
                   help="MB kept free under Lambda's 250 MB for the function package "
                        f"(default {FUNCTION_RESERVE // 1_000_000})")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("lock", help="resolve and pin wheels with hashes, per runtime and architecture")
    p.add_argument("--python", default=DEFAULT_PYTHON, help=f"{', '.join(RUNTIMES)} or all")
    p.set_defaults(func=cmd_lock)
    p = sub.add_parser("system-deps", help="install the Debian packages the build needs")
    arch_and_python(p)
    p.set_defaults(func=cmd_system_deps)
    p = sub.add_parser("model", help="the served model into dist/model/: the built-in one, or `import FILE`")
    p.add_argument("action", nargs="?", choices=["train", "import"], default="train")
    p.add_argument("file", nargs="?", help="with import: your model, a skops file (or --from-pickle), an XGBoost "
                   "model file (.json, .ubj) or a LightGBM one (.txt)")
    p.add_argument("--trust", nargs="*", default=[], metavar="TYPE",
                   help="a type beyond skops' safe defaults you trust (each by its full name)")
    p.add_argument("--from-pickle", action="store_true",
                   help="FILE is a pickle or joblib file you made yourself: it is unpickled and converted to skops")
    p.add_argument("--check-data", metavar="CSV",
                   help="with import: held-out rows (numbers, comma-separated) to prove the ONNX export on; "
                        "without it, synthetic rows")
    p.add_argument("--max-unpacked-mb", type=int, default=MAX_UNPACKED_MB,
                   help=f"with import: refuse a file that unpacks to more (default {MAX_UNPACKED_MB:,} MiB)")
    p.add_argument("--max-expansion", type=float, default=MAX_EXPANSION,
                   help=f"with import: refuse a file that expands more times than this (default {MAX_EXPANSION})")
    p.add_argument("--python", default=DEFAULT_PYTHON, help="the runtime whose layer must hold what the model needs")
    p.add_argument("--version", default="1", help="the model version recorded in its manifest")
    p.set_defaults(func=cmd_model)
    p = sub.add_parser("package", help="build the function zip (handlers, model, skops) into dist/function/")
    p.add_argument("--python", default=DEFAULT_PYTHON, help=f"runtime: {', '.join(RUNTIMES)}")
    p.set_defaults(func=cmd_package)
    p = sub.add_parser("layers-report", help="sizes and cold-import times of the built layers")
    arch_and_python(p)
    backends(p)
    p.add_argument("--rounds", type=int, default=7, help="cold imports per variant (default 7)")
    p.set_defaults(func=cmd_report)


def normalise(args: argparse.Namespace) -> None:
    """--arch and --backend checked by name and defaulted to every architecture and backend."""
    if hasattr(args, "arch"):
        args.arch = [architecture(a).name for a in (args.arch or ARCHITECTURES)]
    if hasattr(args, "backend"):
        args.backend = [backend(k).name for k in (args.backend or BACKENDS)]
