"""Finds a CPython interpreter of an exact minor version on this machine (stdlib only)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

ENV_OVERRIDE = "LAYER_PYTHON_{tag}"  # e.g. LAYER_PYTHON_313=/usr/bin/python3.13
SEARCH_ENV = "LAYER_PYTHON_SEARCH"  # folders to search instead of the usual places (colon-separated)
# What needs exactly this version, and how to get it: said in one place, printed when it is missing.
WHY = ("the development environment (.venv) runs the handlers and trains models with the layer's own versions, and "
       "the layer's bytecode must be compiled by the runtime's minor version; the local Lambda brings its own "
       "Python 3.13 (Debian trixie's, in its sandbox) and needs none on the host")
HOW = ("apt-get install python{v} python{v}-venv (Debian 13, Ubuntu 25.04 and newer); or pyenv install {v}; or "
       "uv python install {v} (where its downloads are reachable); or point LAYER_PYTHON_{tag} at one")


def _version_of(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, env={"PATH": os.defpath},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def candidates(version: str) -> list[str]:
    """Places an interpreter of `version` is commonly found, most specific first."""
    tag = version.replace(".", "")
    found = [os.environ.get(ENV_OVERRIDE.format(tag=tag), "")]
    if os.environ.get(SEARCH_ENV) is not None:  # only these folders
        found += [os.path.join(d, f"python{version}") for d in os.environ[SEARCH_ENV].split(":") if d]
        return [p for p in dict.fromkeys(found) if p and os.path.exists(p)]
    found.append(shutil.which(f"python{version}") or "")
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True)
    found += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        found.append(sys.executable)
    return [p for p in dict.fromkeys(found) if p and os.path.exists(p)]


def find_python(version: str) -> str | None:
    """The first interpreter that really runs as `version`, or None."""
    return next((p for p in candidates(version) if _version_of(p) == version), None)


if __name__ == "__main__":
    wanted = sys.argv[1] if len(sys.argv) > 1 else "3.13"
    path = find_python(wanted)
    if path is None:
        tag = wanted.replace(".", "")
        sys.exit(f"error: no Python {wanted} found. It is needed because {WHY}. Get it with: "
                 f"{HOW.format(v=wanted, tag=tag)}; then run make again.")
    print(path)
