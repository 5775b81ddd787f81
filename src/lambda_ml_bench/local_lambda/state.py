"""What a user configures through the API, kept across restarts: every change is written to the state file
atomically (a whole new file renamed over the old) before it is answered, and read back when the service starts on
the same port and state folder. The definitions say what code a function runs; the state says how it was
configured since: settings of $LATEST and of every published version, aliases, the next version number, deletions.
"""
from __future__ import annotations

import json
from pathlib import Path

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


def load(path: Path) -> tuple[dict[str, dict], set[str]]:
    """(each function's saved state, the names of deleted functions); nothing when there is no state yet."""
    if not path.exists():
        return {}, set()
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: a state file of format {data.get('format')!r}, not {FORMAT}")
    return data["functions"], set(data["deleted"])


def settings_of(spec) -> dict:
    return {key: getattr(spec, key) for key in SETTINGS}
