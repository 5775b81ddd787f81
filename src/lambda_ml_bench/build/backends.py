"""Backends as data (the serving engine and the layer that carries it; functions.json names a handler's backend):
what a layer holds, how it is proven to work, what slimming removes, what it may weigh.

Every kind goes through the same build and the same checks (ELF architecture, glibc cap, Lambda's size limits,
byte-identical rebuilds, an import check on both architectures); a kind only says what differs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lambda_ml_bench.build.platforms import Runtime, UnknownChoice
from lambda_ml_bench.files import MiB
from lambda_ml_bench.lambda_facts import DIRECT_UPLOAD_LIMIT

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SystemLibrary:
    """A shared library a kind's wheels link but Lambda's runtime does not have: taken from Debian's archive, the
    .deb pinned by sha256 per architecture, into the layer's lib/ (Lambda's LD_LIBRARY_PATH has /opt/lib)."""
    soname: str  # the file name the wheels' NEEDED entry asks for, and the layer's lib/ holds
    package: str  # Debian binary package
    version: str
    pool: str  # its folder under the archive's pool/
    sha256: tuple[tuple[str, str], ...]  # (Debian architecture, sha256 of the .deb)
    why: str

    def deb(self, debian_arch: str) -> str:
        return f"{self.package}_{self.version}_{debian_arch}.deb"


# LightGBM's wheels link the system's GNU OpenMP runtime (XGBoost's and scikit-learn's carry their own); Lambda's
# Amazon Linux 2023 runtimes have none. Debian 12's build needs glibc 2.34, which those runtimes have (13's needs
# 2.38).
LIBGOMP = SystemLibrary(
    soname="libgomp.so.1", package="libgomp1", version="12.2.0-14+deb12u1", pool="main/g/gcc-12",
    sha256=(("amd64", "48fec46bda7f5b1638b9e959889bfbc20491247d402d120bb152687eb48143d7"),
            ("arm64", "a48b70dd1a95585466b40bd94564bce56ebcb2566e49ccdb6441e996aaab2098")),
    why="lib_lightgbm.so needs libgomp.so.1 (readelf -d: NEEDED), which Lambda's runtime lacks",
)

# What the scikit-learn kinds remove of SciPy: imported by no module of scikit-learn or pandas
# (tests/unit/test_layer_kinds.py reads their sources and imports every scikit-learn module without them).
_SCIPY_UNUSED_BY_SKLEARN = (
    ("scipy/signal", "signal processing: scikit-learn never imports it; pandas only for rolling(win_type=...)"),
    ("scipy/odr", "orthogonal distance regression: imported by neither"),
    ("scipy/fftpack", "the legacy FFT interface (scipy.fft stays): imported by neither"),
    ("scipy/misc", "deprecated helpers: imported by neither"),
    ("scipy/datasets", "downloads sample data: imported by neither"),
    ("scipy/differentiate", "numerical differentiation: imported by neither"),
)
_XGBOOST_EXTRAS = (("xgboost/testing", "XGBoost's own test helpers, never imported by inference"),
                   ("xgboost/spark", "training on Spark"), ("xgboost/dask", "training on Dask"))

# What a gradient boosting layer keeps of SciPy: the boosters import scipy.sparse (and through it scipy.linalg and
# scipy.special) to accept sparse matrices; nothing of them imports the rest (tests/unit/test_layer_kinds.py reads
# their sources), and the import check trains and predicts without it.
_SCIPY_BEYOND_SPARSE = tuple(
    (f"scipy/{sub}", "not imported by the booster or by scipy.sparse")
    for sub in ("cluster", "datasets", "differentiate", "fft", "fftpack", "integrate", "interpolate", "io",
                "misc", "ndimage", "odr", "optimize", "signal", "spatial", "stats")
)


@dataclass(frozen=True)
class Backend:
    name: str
    summary: str  # what it holds and serves, for the command line's help
    requirements: Path  # what goes in; `make lock` pins it per runtime and architecture
    imports: tuple[str, ...]  # imported (and timed) by the import check, from the layer alone
    check: str  # the working check the probe runs after importing (a branch of layer_build/importcheck.py's _PROBE)
    # kind-specific deletions after the common slimming: (glob under python/, why it is safe), each proven by the
    # import check that follows
    remove: tuple[tuple[str, str], ...] = ()
    # distributions (import names) the layer holds off sys.path, in python/pandas-apart (handlers/model.py's
    # APART_DIR): put on it by the handler only for a model that needs them (scikit-learn imports pandas whenever it
    # can, which costs every other model's cold start)
    apart: tuple[str, ...] = ()
    libraries: tuple[SystemLibrary, ...] = ()  # into the layer's lib/
    zipped_budget: int | None = None  # bytes; the build fails above it
    min_glibc: tuple[int, int] | None = None  # the oldest glibc its wheels load on (runtimes below it cannot have it)

    def available(self, rt: Runtime) -> str | None:
        """None when this kind can be built for `rt`, else why not."""
        if self.min_glibc and rt.glibc < self.min_glibc:
            return (f"the {self.name} layer's wheels need glibc {self.min_glibc[0]}.{self.min_glibc[1]}; {rt.name} "
                    f"runs on {rt.os} (glibc {rt.glibc[0]}.{rt.glibc[1]})")
        return None


BACKENDS: dict[str, Backend] = {
    "sklearn": Backend(
        name="sklearn",
        summary="scikit-learn, SciPy, NumPy, pandas: trains and serves any scikit-learn model",
        requirements=ROOT / "sklearn-requirements.in",
        imports=("numpy", "scipy", "sklearn.svm", "pandas"),
        check="svc-fit",
        apart=("pandas", "dateutil", "six"),
        # pandas (35 MiB with its bytecode) brings the arm64 layer close to Lambda's 250 MB with the function's
        # reserve; these go, each imported by no module of scikit-learn or pandas (tests/unit/test_layer_kinds.py
        # reads their sources and imports every scikit-learn module without them; numpy.f2py, tried, is reached by
        # SciPy's array API layer, so it stays)
        remove=_SCIPY_UNUSED_BY_SKLEARN,
    ),
    "onnx": Backend(
        name="onnx",
        summary="ONNX Runtime and NumPy: serves the model exported to ONNX, no scikit-learn or SciPy",
        requirements=ROOT / "onnx-requirements.in",
        imports=("numpy", "onnxruntime"),
        check="onnx-session",
        remove=(
            ("onnxruntime/capi/libonnxruntime.so*",
             "the C API library; the Python binding does not link it (readelf -d shows no NEEDED entry)"),
            ("onnxruntime/capi/libonnxruntime_providers_shared.so",
             "loads only execution providers other than the CPU one, which is built into the binding"),
            ("onnxruntime/transformers", "offline model optimisation tools, never imported by inference"),
            ("onnxruntime/quantization", "offline quantisation tools, never imported by inference"),
            ("onnxruntime/tools", "offline conversion tools, never imported by inference"),
            ("onnxruntime/datasets", "sample models"),
        ),
        # Under Lambda's 50 MB direct upload with room to spare: no S3 round trip for the layer.
        zipped_budget=45 * MiB,
        min_glibc=(2, 28),  # onnxruntime 1.32.0 publishes manylinux_2_28 wheels only
    ),
    "boosting": Backend(
        name="boosting",
        summary="scikit-learn, XGBoost, LightGBM, SciPy, NumPy (no pandas): serves a scikit-learn pipeline wrapping "
                "an XGBoost or LightGBM estimator",
        requirements=ROOT / "boosting-requirements.in",
        imports=("numpy", "scipy", "sklearn.pipeline", "xgboost", "lightgbm"),
        check="boosting-fit",
        # the sklearn kind's removals (the boosters reach nothing of SciPy beyond sparse) and XGBoost's extras
        remove=(*_SCIPY_UNUSED_BY_SKLEARN, *_XGBOOST_EXTRAS),
        libraries=(LIBGOMP,),
        min_glibc=(2, 34),  # the libgomp it carries
    ),
    "xgboost": Backend(
        name="xgboost",
        summary="XGBoost (CPU), SciPy's sparse matrices, NumPy: serves an XGBoost model file (JSON or UBJSON)",
        requirements=ROOT / "xgboost-requirements.in",
        imports=("numpy", "scipy.sparse", "xgboost"),
        check="xgboost-train",
        remove=(*_SCIPY_BEYOND_SPARSE, *_XGBOOST_EXTRAS),
        zipped_budget=DIRECT_UPLOAD_LIMIT,  # the budget: under 50 MB zipped, a direct upload
        min_glibc=(2, 28),  # xgboost-cpu 3.4.1 publishes manylinux_2_28 wheels only
    ),
    "lightgbm": Backend(
        name="lightgbm",
        summary="LightGBM, SciPy's sparse matrices, NumPy, GNU OpenMP: serves a LightGBM model file (text)",
        requirements=ROOT / "lightgbm-requirements.in",
        imports=("numpy", "scipy.sparse", "lightgbm"),
        check="lightgbm-train",
        remove=_SCIPY_BEYOND_SPARSE,
        libraries=(LIBGOMP,),
        zipped_budget=DIRECT_UPLOAD_LIMIT,
        min_glibc=(2, 34),  # the libgomp it carries
    ),
}


# What a layer is built by (with its kind's data and lock): the build key hashes these and the Makefile's layer rule
# depends on them; the model import, the function package and the reports are not among them, so changing those
# rebuilds no layer.
LAYER_MODULES = ("build/archive", "build/backends", "build/build", "build/elfcheck", "build/errors",
                 "build/importcheck", "build/interpreters", "build/libraries", "build/onnx_export", "build/pip",
                 "build/platforms", "build/slim", "build/wheels", "sandbox/roots", "lambda_facts", "files", "paths")


def layer_sources() -> list[Path]:
    return [ROOT.parent / f"{m}.py" for m in LAYER_MODULES]


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UnknownChoice(f"unknown BACKEND {name!r}; valid values: {', '.join(BACKENDS)}") from None


if __name__ == "__main__":
    # `python3 -m lambda_ml_bench.build.backends [NAME...]`: every backend's name, or the Makefile's BACKEND check;
    # with --sources, the files a layer is built by.
    import sys

    if len(sys.argv) == 1:
        print(" ".join(BACKENDS))
    elif sys.argv[1:] == ["--sources"]:  # the Makefile's LAYER_SRC
        import os

        print(" ".join(os.path.relpath(p) for p in layer_sources()))
        sys.exit()
    try:
        for arg in sys.argv[1:]:
            backend(arg)
    except UnknownChoice as err:
        sys.exit(str(err))
