"""`aws_iam_policy_document`, rendered as the AWS provider renders it, so a plan shows the real policy JSON.

Follows the provider's documented output: Version 2012-10-17 unless set, Effect Allow unless set, a
one-element list written as a plain string, set-typed lists in the provider's (reverse-sorted) order,
`json` indented by two spaces and `minified_json` without whitespace. `source_policy_documents`,
`override_policy_documents` and the deprecated `*_json` arguments merge by statement Sid as documented.
"""
from __future__ import annotations

import hashlib
import json

from tfcheck.errors import PolicyError

_PRINCIPAL_KEYS = {"principals": "Principal", "not_principals": "NotPrincipal"}
_LIST_KEYS = (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"),
              ("not_resources", "NotResource"))


def _one_or_many(values: list[str], *, is_set: bool = True) -> str | list[str]:
    ordered = sorted(set(values), reverse=True) if is_set else list(values)
    return ordered[0] if len(ordered) == 1 else ordered


def _principals(blocks: list[dict]) -> str | dict:
    if any(b["type"] == "*" for b in blocks):
        if len(blocks) != 1 or sorted(blocks[0]["identifiers"] or []) != ["*"]:
            raise PolicyError('a "*" principal takes the identifiers ["*"] and no other principal')
        return "*"
    merged: dict[str, list[str]] = {}
    for block in blocks:
        merged.setdefault(block["type"], []).extend(block["identifiers"] or [])
    return {kind: _one_or_many(ids) for kind, ids in sorted(merged.items())}


def _conditions(blocks: list[dict]) -> dict:
    merged: dict[str, dict[str, str | list[str]]] = {}
    for block in blocks:
        merged.setdefault(block["test"], {})[block["variable"]] = _one_or_many(block["values"] or [], is_set=False)
    return merged


def statement(block: dict) -> dict:
    """One `statement` block as its IAM JSON object, keys in the provider's order."""
    out: dict = {}
    if block.get("sid"):
        out["Sid"] = block["sid"]
    effect = block.get("effect") or "Allow"
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"effect must be Allow or Deny, not {effect!r}")
    out["Effect"] = effect
    for key, name in _LIST_KEYS:
        if block.get(key):
            out[name] = _one_or_many(block[key])
    for key, name in _PRINCIPAL_KEYS.items():
        if block.get(key):
            out[name] = _principals(block[key])
    if block.get("condition"):
        out["Condition"] = _conditions(block["condition"])
    return out


def _merge(statements: list[dict], overrides: list[dict]) -> list[dict]:
    by_sid = {s["Sid"]: i for i, s in enumerate(statements) if s.get("Sid")}
    merged = list(statements)
    for override in overrides:
        sid = override.get("Sid")
        if sid and sid in by_sid:
            merged[by_sid[sid]] = override
        else:
            merged.append(override)
    return merged


def _statements_of(documents: list[str]) -> list[dict]:
    found: list[dict] = []
    for text in documents:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"a policy document to merge is not JSON: {exc}") from None
        found.extend(doc.get("Statement", []))
    return found


def render(config: dict) -> dict:
    """The computed attributes (`json`, `minified_json`, `id`) for a data source configuration."""
    own = [statement(b) for b in config.get("statement") or []]
    sources = _statements_of(config.get("source_policy_documents") or [])
    if config.get("source_json"):
        sources = _statements_of([config["source_json"]]) + sources
    doc_statements = _merge(sources, own)
    overrides = _statements_of(([config["override_json"]] if config.get("override_json") else [])
                               + (config.get("override_policy_documents") or []))
    doc_statements = _merge(doc_statements, overrides)
    sids = [s["Sid"] for s in own if s.get("Sid")]
    if len(sids) != len(set(sids)):
        raise PolicyError("statement sids must be unique within one policy document")
    document: dict = {"Version": config.get("version") or "2012-10-17"}
    if config.get("policy_id"):
        document["Id"] = config["policy_id"]
    document["Statement"] = doc_statements
    pretty = json.dumps(document, indent=2)
    minified = json.dumps(document, separators=(",", ":"))
    return {"json": pretty, "minified_json": minified, "id": str(int(hashlib.sha256(pretty.encode()).hexdigest()[:8], 16))}
