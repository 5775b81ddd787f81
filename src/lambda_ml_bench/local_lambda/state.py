"""What a user configures through the API, kept across restarts: every change is written to the state file
atomically (a whole new file renamed over the old) before it is answered, and read back when the service starts on
the same port and state folder. The definitions say what code a function runs; the state says how it was
configured since: settings of $LATEST and of every published version, aliases, the next version number, deletions.
"""
from __future__ import annotations

import json
from pathlib import Path

from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.files import atomic_write

SETTINGS = ("memory_size", "timeout", "environment", "user_description", "ephemeral_storage")
FORMAT = 1


def state_file(state_dir: Path, port: int) -> Path:
    return state_dir / f"functions-{port}.json"


def save(path: Path, functions: dict, deleted: set[str], others: dict[str, dict]) -> None:
    """The configuration of every function, written whole and atomically (`others`: saved states of functions the
    current definitions do not have, kept for when they come back)."""
    states = {**others, **{name: function.state() for name, function in functions.items()}}
    data = {"format": FORMAT, "deleted": sorted(deleted), "functions": dict(sorted(states.items()))}
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True).encode(), mode=0o600, sync=True)


class StateError(ProjectError):
    """A state file this service cannot read back."""


def load(path: Path) -> tuple[dict[str, dict], set[str]]:
    """(each function's saved state, the names of deleted functions); nothing when there is no state yet. A file that
    is not one this service wrote is refused whole, with what to do, rather than half restored."""
    if not path.exists():
        return {}, set()
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {FORMAT}")
        functions, deleted = data["functions"], set(data["deleted"])
        for saved in functions.values():
            for pool in (saved["latest"], *saved["versions"].values()):
                if not set(pool["settings"]) <= set(SETTINGS):
                    raise ValueError(f"unknown settings {sorted(set(pool['settings']) - set(SETTINGS))}")
            if not isinstance(saved["aliases"], dict) or not isinstance(saved["next_version"], int):
                raise ValueError("aliases must be an object and next_version a number")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise StateError(f"{path} cannot be read back ({err!r}); start with --fresh to begin from the definitions, "
                         "or remove the file") from None
    return functions, deleted


def settings_of(spec) -> dict:
    return {key: getattr(spec, key) for key in SETTINGS}
