"""Checking parsed Terraform blocks against the AWS provider's schema, as the provider itself would."""
from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

from support import REPO

SCHEMA = REPO / "tests" / "data" / "aws-6.47.0.json.gz"
PROVIDER = "registry.terraform.io/hashicorp/aws"
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "dynamic", "__comments__",
                  "__is_block__"}


def parse(path: Path) -> dict:
    with open(path) as fh:
        return hcl2.load(fh, serialization_options=SerializationOptions(strip_string_quotes=True))


def tf_files(root: Path = REPO / "terraform") -> list[Path]:
    return sorted(root.rglob("*.tf"))


@cache
def _whole() -> dict:
    with gzip.open(SCHEMA) as fh:
        return json.load(fh)["provider_schemas"][PROVIDER]


def schema(kind: str, type_name: str) -> dict | None:
    """The block schema of a resource or data source type, or None when the provider has no such type."""
    entries = _whole()["resource_schemas" if kind == "resource" else "data_source_schemas"]
    return entries[type_name]["block"] if type_name in entries else None


def blocks(parsed: dict, kind: str):
    """(type, name, body) of each resource or data block in a parsed file."""
    for entry in parsed.get(kind, []):
        for type_name, named in entry.items():
            for name, body in named.items():
                yield type_name, name, body


def _is_block(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) and v.get("__is_block__") for v in value) and value != []


def check_body(body: dict, block: dict, where: str) -> list[str]:
    """Every fault of `body` against `block`: unknown or missing arguments, blocks and attributes
    swapped, too many blocks. Nested blocks (dynamic ones too) are checked the same way."""
    problems = []
    attributes = block.get("attributes", {})
    nested = block.get("block_types", {})
    dynamic = {}
    for entry in body.get("dynamic", []):
        for name, content in entry.items():
            dynamic[name] = [c for c in content.get("content", [])]
    for key, value in body.items():
        if key in META_ARGUMENTS:
            continue
        if key in attributes:
            if _is_block(value):
                problems.append(f"{where}: `{key}` is an argument, written as a block")
            elif not attributes[key].get("optional") and not attributes[key].get("required"):
                problems.append(f"{where}: `{key}` is computed only; it cannot be set")
        elif key in nested:
            if not _is_block(value):
                problems.append(f"{where}: `{key}` is a block, written as an argument")
                continue
            problems += _check_nested(key, value, nested[key], where)
        else:
            problems.append(f"{where}: unknown argument or block `{key}`")
    for key, spec in dynamic.items():
        if key not in nested:
            problems.append(f"{where}: dynamic block of unknown type `{key}`")
        else:
            for item in spec:
                problems += check_body(item, nested[key]["block"], f"{where}.{key}")
    for key, spec in attributes.items():
        if spec.get("required") and key not in body:
            problems.append(f"{where}: missing required argument `{key}`")
    for key, spec in nested.items():
        if spec.get("min_items", 0) > len(body.get(key, [])) + len(dynamic.get(key, [])) and key not in dynamic:
            problems.append(f"{where}: needs at least {spec['min_items']} `{key}` block(s)")
    return problems


def _check_nested(key: str, value: list, spec: dict, where: str) -> list[str]:
    problems = []
    max_items = spec.get("max_items")
    if max_items and len(value) > max_items:
        problems.append(f"{where}: at most {max_items} `{key}` block(s), found {len(value)}")
    for item in value:
        problems += check_body(item, spec["block"], f"{where}.{key}")
    return problems


def check_file(path: Path) -> list[str]:
    parsed = parse(path)
    problems = []
    for kind in ("resource", "data"):
        for type_name, name, body in blocks(parsed, kind):
            where = f"{path.relative_to(REPO)}: {'data.' if kind == 'data' else ''}{type_name}.{name}"
            block = schema(kind, type_name)
            if block is None:
                problems.append(f"{where}: the AWS provider has no {kind} type `{type_name}`")
            else:
                problems += check_body(body, block, where)
    return problems
