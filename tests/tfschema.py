"""Reading the Terraform files as data (python-hcl2), for checks on their text: variables, comments.

What the AWS provider's schema allows is checked by Terraform itself, offline, against the stand-in
provider (tfcheck/, tests/integration/test_tfcheck.py).
"""
from __future__ import annotations

from pathlib import Path

import hcl2
from hcl2 import SerializationOptions
from support import REPO


def parse(path: Path) -> dict:
    with open(path) as fh:
        return hcl2.load(fh, serialization_options=SerializationOptions(strip_string_quotes=True))


def tf_files(root: Path = REPO / "terraform") -> list[Path]:
    return sorted(root.rglob("*.tf"))


def blocks(parsed: dict, kind: str):
    """(type, name, body) of each resource or data block in a parsed file."""
    for entry in parsed.get(kind, []):
        for type_name, named in entry.items():
            for name, body in named.items():
                yield type_name, name, body
