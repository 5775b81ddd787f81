"""The slimming rules, on small synthetic trees."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lambda_ml_bench.build import slim


def make_tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {rel}\n")


def listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_tests_folders_go_but_imported_helpers_stay(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "numpy/_core/tests/__init__.py", "numpy/_core/tests/_natype.py", "numpy/_core/tests/test_a.py",
        "numpy/_core/tests/data/x.csv", "numpy/testing/__init__.py", "scipy/linalg/tests/test_b.py",
        "sklearn/utils/_testing.py", "sklearn/svm/tests/test_svm.py", "sklearn/svm/_base.py",
    ])
    removed = slim.remove_tests(tmp_path)
    assert listing(tmp_path) == {
        "numpy/_core/tests/__init__.py", "numpy/_core/tests/_natype.py", "numpy/testing/__init__.py",
        "sklearn/utils/_testing.py", "sklearn/svm/_base.py",
    }
    assert set(removed) == {"numpy/_core/tests", "scipy/linalg/tests", "sklearn/svm/tests"}


def test_sources_and_stubs_go_but_dist_info_is_kept(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "numpy/__init__.py", "numpy/__init__.pyi", "numpy/_core/include/numpy/ndarraytypes.h",
        "sklearn/svm/_libsvm.pyx", "sklearn/svm/_libsvm.pxd", "sklearn/tree/_utils.pxi",
        "scipy/special/cython_special.c", "scipy/special/cython_special.pyi", "sklearn/py.typed",
        "numpy-2.5.5.dist-info/METADATA", "numpy-2.5.5.dist-info/licenses/x.h",
    ])
    assert slim.remove_sources(tmp_path) == 7
    assert listing(tmp_path) == {"numpy/__init__.py", "sklearn/py.typed", "numpy-2.5.5.dist-info/METADATA",
                                 "numpy-2.5.5.dist-info/licenses/x.h"}


def test_bytecode_and_console_scripts_go(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/__pycache__/m.cpython-313.pyc", "a/m.py", "bin/f2py", "a/__pycache__/n.pyc"])
    assert slim.remove_bytecode(tmp_path) == 1
    slim.remove_scripts(tmp_path)
    assert listing(tmp_path) == {"a/m.py"}


def test_extension_modules_never_include_auditwheel_libraries(tmp_path: Path) -> None:
    make_tree(tmp_path, [
        "numpy/_core/_multiarray_umath.cpython-313-aarch64-linux-gnu.so",
        "numpy.libs/libscipy_openblas64_-ff651d7f.so", "scipy.libs/libgfortran-040039e1.so.5.0.0",
        "scikit_learn.libs/libgomp-d22c30c5.so.1.0.0", "scipy/_lib/_ccallback_c.abi3.so",
        "weird.libs/inner/mod.cpython-313-x86_64-linux-gnu.so",
    ])
    found = {p.relative_to(tmp_path).as_posix() for p in slim.extension_modules(tmp_path)}
    assert found == {"numpy/_core/_multiarray_umath.cpython-313-aarch64-linux-gnu.so",
                     "scipy/_lib/_ccallback_c.abi3.so"}


def test_strip_shrinks_a_real_extension_and_it_still_loads(tmp_path: Path, compiled_so: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    ext = pkg / compiled_so.name
    shutil.copy(compiled_so, ext)
    before = ext.stat().st_size
    assert slim.strip_extensions(tmp_path, "strip") == 1
    assert ext.stat().st_size < before
    symbols = subprocess.run(["nm", "-D", str(ext)], capture_output=True, text=True, check=True).stdout
    assert " answer" in symbols  # dynamic symbols survive: the module can still be loaded


def test_strip_failure_names_the_tool(tmp_path: Path) -> None:
    (tmp_path / "m.cpython-313-x86_64-linux-gnu.so").write_text("not an ELF file")
    with pytest.raises(Exception, match="strip failed"):
        slim.strip_extensions(tmp_path, "strip")


def test_scripts_and_their_record_lines_go_so_the_layer_does_not_name_the_build_interpreter(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "f2py").write_text("#!/some/checkout/.venv/bin/python\n")
    info = tmp_path / "numpy-2.5.5.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("../../bin/f2py,sha256=abc,173\nnumpy/__init__.py,sha256=def,10\n"
                                 "numpy-2.5.5.dist-info/RECORD,,\n")
    slim.remove_scripts(tmp_path)
    assert not (tmp_path / "bin").exists()
    assert (info / "RECORD").read_text() == "numpy/__init__.py,sha256=def,10\nnumpy-2.5.5.dist-info/RECORD,,\n"


def test_distributions_moved_apart_leave_with_their_metadata_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    make_tree(tmp_path, ["pandas/__init__.py", "pandas-3.1.1.dist-info/RECORD", "dateutil/__init__.py",
                         "python_dateutil-2.9.0.post0.dist-info/top_level.txt", "six.py",
                         "six-1.17.0.dist-info/top_level.txt", "sklearn/__init__.py",
                         "scikit_learn-1.9.1.dist-info/RECORD"])
    (tmp_path / "pandas-3.1.1.dist-info/RECORD").write_text("pandas/__init__.py,sha256=x,1\n")
    (tmp_path / "python_dateutil-2.9.0.post0.dist-info/top_level.txt").write_text("dateutil\n")
    (tmp_path / "six-1.17.0.dist-info/top_level.txt").write_text("six\n")
    (tmp_path / "scikit_learn-1.9.1.dist-info/RECORD").write_text("sklearn/__init__.py,sha256=x,1\n")
    moved = slim.move_apart(tmp_path, ("pandas", "dateutil", "six"), "pandas-apart")
    assert sorted(moved) == ["dateutil", "pandas", "pandas-3.1.1.dist-info", "python_dateutil-2.9.0.post0.dist-info",
                             "six-1.17.0.dist-info", "six.py"]
    assert {p.split("/")[0] for p in listing(tmp_path)} == {"pandas-apart", "sklearn", "scikit_learn-1.9.1.dist-info"}
    with pytest.raises(ValueError, match="nothing to move apart for polars"):
        slim.move_apart(tmp_path, ("polars",), "pandas-apart")
