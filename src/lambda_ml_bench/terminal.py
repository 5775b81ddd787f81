"""What every command prints its progress with: one line on stderr, flushed."""
from __future__ import annotations

import sys


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
