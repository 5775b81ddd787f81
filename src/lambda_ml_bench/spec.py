"""The one reader of terraform/functions.json, the project's contract: which functions exist (one per handler and
architecture), on which backend's layer, with which defaults, and where their zips are for a runtime (stdlib only:
the Makefile asks it before the development environment exists)."""
from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.paths import REPO

SPEC_FILE = REPO / "terraform" / "functions.json"


class SpecError(ProjectError):
    """functions.json does not say what is asked of it."""


def runtime_tag(python_version: str) -> str:
    """py313 for 3.13: how zips and function names spell the runtime."""
    return "py" + python_version.replace(".", "")


@dataclass(frozen=True)
class Handler:
    key: str  # benchmark, predict, predict-onnx
    handler: str  # module.function inside the function package
    memory_size: int
    timeout: int
    backend: str  # the layer the handler runs on: sklearn, onnx
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def function(self) -> str:
        """What the handler does, whatever serves it: predict-onnx is predict."""
        return self.key.removesuffix(f"-{self.backend}")


@dataclass(frozen=True)
class Spec:
    project: str
    python_version: str  # the default runtime; PYTHON_VERSION chooses another
    name_format: str
    architectures: tuple[str, ...]
    package_format: str
    layer_format: str
    backends: tuple[str, ...]
    handlers: dict[str, Handler]

    def function_name(self, key: str, architecture: str, python_version: str | None = None) -> str:
        """name_format, which Terraform fills in with templatestring() and Python with Template."""
        return Template(self.name_format).substitute(project=self.project, handler=key, architecture=architecture,
                                                     runtime_tag=runtime_tag(python_version or self.python_version))

    def package_path(self, python_version: str | None = None) -> Path:
        tag = runtime_tag(python_version or self.python_version)
        return REPO / Template(self.package_format).substitute(runtime_tag=tag)

    def layer_path(self, backend: str, architecture: str, python_version: str | None = None) -> Path:
        tag = runtime_tag(python_version or self.python_version)
        return REPO / Template(self.layer_format).substitute(backend=backend, architecture=architecture,
                                                             runtime_tag=tag)

    def package_manifest(self, python_version: str | None = None) -> dict:
        """The function package's manifest (what `make package` wrote beside its zip), {} when there is none."""
        try:
            return json.loads(self.package_path(python_version).with_suffix(".json").read_text())
        except (OSError, ValueError):
            return {}

    def serving(self, model_backends: tuple[str, ...] | list[str] | None) -> dict[str, Handler]:
        """The handlers deployed beside a packaged model: every one but predict, and predict on each backend that
        serves the model (its own, ONNX Runtime when exported; a package of before those were recorded: sklearn and
        onnx). Terraform's main.tf makes the same choice."""
        served = set(model_backends if model_backends is not None else ("sklearn", "onnx"))
        return {k: h for k, h in self.handlers.items() if h.function != "predict" or h.backend in served}

    def deployed(self, python_version: str | None = None) -> dict[str, Handler]:
        """serving() for the package built for this runtime."""
        return self.serving(self.package_manifest(python_version).get("model", {}).get("backends"))

    def deployed_layers(self, python_version: str | None = None) -> list[Path]:
        """The layer zips the deployed handlers run on, every architecture."""
        return sorted({self.layer_path(h.backend, a, python_version)
                       for h in self.deployed(python_version).values() for a in self.architectures})

    def handler_for(self, function: str, backend: str) -> Handler:
        """The handler that does `function` (benchmark, predict) on `backend`: predict on onnx is predict-onnx."""
        for h in self.handlers.values():
            if h.function == function and h.backend == backend:
                return h
        served = sorted(h.backend for h in self.handlers.values() if h.function == function)
        raise SpecError(f"no {backend} backend for the {function} handler in terraform/functions.json "
                        f"(it has {', '.join(served) or 'none'})")


@functools.cache
def load(path: Path = SPEC_FILE) -> Spec:
    try:
        data = json.loads(path.read_text())
        handlers = {
            key: Handler(key=key, handler=h["handler"], memory_size=int(h["memory_size"]), timeout=int(h["timeout"]),
                         backend=h["backend"], environment=tuple(sorted(h.get("environment", {}).items())))
            for key, h in data["handlers"].items()
        }
        spec = Spec(project=data["project"], python_version=data["python_version"], name_format=data["name_format"],
                    architectures=tuple(data["architectures"]), package_format=data["package"],
                    layer_format=data["layer"], backends=tuple(data["backends"]), handlers=handlers)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SpecError(f"{path} cannot be read as the functions' definition: {err!r}") from err
    unknown = {h.backend for h in handlers.values()} - set(spec.backends)
    if unknown:
        raise SpecError(f"{path}: handlers on backends it does not list: {sorted(unknown)}")
    return spec


if __name__ == "__main__":
    # `python3 -m lambda_ml_bench.spec python_version`: a field for the Makefile (stdlib only); `layers VERSION`: the
    # layer zips (relative to the checkout) the packaged model's deployment needs.
    if sys.argv[1:2] == ["layers"]:
        print(" ".join(str(p.relative_to(REPO)) for p in load().deployed_layers(sys.argv[2])))
    else:
        print(getattr(load(), sys.argv[1]) if len(sys.argv) > 1 else load())
