"""How every command line ends: the step's own error is one line and exit code 2, success is 0."""
from __future__ import annotations

import sys
from collections.abc import Callable

from common.errors import ProjectError


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(step: Callable[[], object], extra: tuple[type[BaseException], ...] = ()) -> int:
    try:
        step()
    except (ProjectError, ValueError, *extra) as err:
        say(f"error: {err}")
        return 2
    return 0
