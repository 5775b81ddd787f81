"""`aws_iam_policy_document`, rendered as the AWS provider renders it, so a plan shows the real policy JSON.

Follows the provider's data source (internal/service/iam/policy_document_data_source.go and
policy_model.go): Effect Allow and Version 2012-10-17 unless set; a one-element set written as a plain
string and longer sets reverse-sorted; `&{` written for `${` in resources, principals and condition
values; principals and conditions keyed in sorted order; `source_policy_documents`, then the
statements, then `override_policy_documents` merged by Sid; `json` indented by two spaces,
`minified_json` compact, both with Go's HTML escaping; `id` the CRC-32 of `json`.
"""
from __future__ import annotations

import json
import zlib

from lambda_ml_bench.tfcheck.errors import PolicyError

VERSIONS = ("2008-10-17", "2012-10-17")
_STATEMENT_KEYS = (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"),
                   ("not_resources", "NotResource"))
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def invalid(config: dict) -> list[tuple[tuple, str]]:
    """(path, message) for each value the provider's own validation rejects (run by `terraform validate`;
    values not yet known are left for the read)."""
    found = []
    version = config.get("version")
    if isinstance(version, str) and version not in VERSIONS:
        found.append((("version",), f'expected version to be one of ["2008-10-17" "2012-10-17"], got {version}'))
    for key in ("source_json", "override_json"):
        if isinstance(config.get(key), str) and config[key]:
            found.append(((key,), f"{key} is no longer used by the provider and must be empty"))
    statements = config.get("statement")
    for i, block in enumerate(statements if isinstance(statements, list) else []):
        effect = block.get("effect") if isinstance(block, dict) else None
        if isinstance(effect, str) and effect not in ("Allow", "Deny"):
            found.append(
                (("statement", (i,), "effect"), f'expected effect to be one of ["Allow" "Deny"], got {effect}')
            )
    return found


def _set_value(values: list[str]) -> str | list[str]:
    """policyDecodeConfigStringList: one element as a string, more reverse-sorted."""
    return values[0] if len(values) == 1 else sorted(values, reverse=True)


def _replace_vars(value: str | list[str], version: str) -> str | list[str]:
    """`&{aws:username}` in the configuration (so Terraform leaves it alone) becomes `${aws:username}`."""
    items = [value] if isinstance(value, str) else value
    for item in items:
        if version == "2008-10-17" and "&{" in item:
            raise PolicyError(f"found &{{ sequence in ({item}), which is not supported in document version 2008-10-17")
    replaced = [item.replace("&{", "${") for item in items]
    return replaced[0] if isinstance(value, str) else replaced


def _principals(blocks: list[dict], version: str) -> str | dict:
    if len(blocks) == 1 and blocks[0]["type"] == "*" and sorted(blocks[0]["identifiers"] or []) == ["*"]:
        return "*"
    merged: dict[str, str | list[str]] = {}
    for block in blocks:
        ids = _replace_vars(_set_value(list(block["identifiers"] or [])), version)
        current = merged.get(block["type"])
        if current is None:
            merged[block["type"]] = ids
        else:
            merged[block["type"]] = ([current] if isinstance(current, str) else current) + (
                [ids] if isinstance(ids, str) else ids
            )
    return dict(sorted(merged.items()))


def _conditions(blocks: list[dict], version: str) -> dict:
    raw: dict[str, dict[str, list[str]]] = {}
    for block in blocks:
        values = _replace_vars(list(block["values"] or []), version)
        raw.setdefault(block["test"], {}).setdefault(block["variable"], []).extend(values)
    return {
        test: {var: (v[0] if len(v) == 1 else v) for var, v in sorted(variables.items())}
        for test, variables in sorted(raw.items())
    }


def statement(block: dict, version: str) -> dict:
    """One `statement` block as its IAM JSON object, keys in the provider's order."""
    effect = block.get("effect") or "Allow"
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f'expected effect to be one of ["Allow" "Deny"], got {effect}')
    out: dict = {"Sid": block["sid"]} if block.get("sid") else {}
    out["Effect"] = effect
    for key, name in _STATEMENT_KEYS:
        if block.get(key):
            value = _set_value(list(block[key]))
            out[name] = value if "actions" in key else _replace_vars(value, version)
    for key, name in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        if block.get(key):
            out[name] = _principals(block[key], version)
    if block.get("condition"):
        out["Condition"] = _conditions(block["condition"], version)
    return out


def _normalised(st: dict) -> dict:
    """A statement read from a JSON document, as the provider writes it back."""
    out = dict(st)
    for key in ("Principal", "NotPrincipal"):
        if isinstance(out.get(key), dict):
            out[key] = {t: (v if isinstance(v, str) else sorted(v, reverse=True)) for t, v in sorted(out[key].items())}
    if isinstance(out.get("Condition"), dict):
        out["Condition"] = {
            test: {var: (str(v).lower() if isinstance(v, bool) else v) for var, v in sorted(vs.items())}
            for test, vs in sorted(out["Condition"].items())
        }
    return out


def _document(text: str, what: str, index: int) -> dict:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"merging {what} document {index}: {exc}") from None
    statements = doc.get("Statement") or []
    return {
        **doc,
        "Statement": [_normalised(s) for s in ([statements] if isinstance(statements, dict) else statements)],
    }


def _merge(into: dict, new: dict) -> None:
    """IAMPolicyDoc.Merge: adopt Id, upgrade Version, replace statements by Sid, append the others."""
    if new.get("Id"):
        into["Id"] = new["Id"]
    if new.get("Version", "") > into.get("Version", ""):
        into["Version"] = new["Version"]
    statements = into.setdefault("Statement", [])
    for st in new.get("Statement", []):
        at = next((i for i, old in enumerate(statements) if st.get("Sid") and old.get("Sid") == st["Sid"]), None)
        if at is None:
            statements.append(st)
        else:
            statements[at] = st


def _go_json(value: dict, indent: int | None) -> str:
    text = json.dumps(value, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def render(config: dict) -> dict:
    """The computed attributes (`json`, `minified_json`, `id`) for a data source configuration."""
    for deprecated in ("source_json", "override_json"):
        if config.get(deprecated):
            raise PolicyError(
                f"{deprecated} is no longer used by the provider and must be empty; "
                f"use {deprecated.split('_')[0]}_policy_documents"
            )
    version = config.get("version") or "2012-10-17"
    if version not in VERSIONS:
        raise PolicyError(f'expected version to be one of ["2008-10-17" "2012-10-17"], got {version}')
    merged: dict = {}
    seen: set[str] = set()
    for i, text in enumerate(config.get("source_policy_documents") or []):
        source = _document(text, "source", i)
        for j, st in enumerate(source["Statement"]):
            if st.get("Sid"):
                if st["Sid"] in seen:
                    raise PolicyError(
                        f"merging source document {i}: duplicate Sid ({st['Sid']}) in "
                        f"source_policy_documents (statement {j}). Remove the Sid or ensure Sids are unique."
                    )
                seen.add(st["Sid"])
        _merge(merged, source)
    own: dict = {"Version": version}
    if config.get("policy_id"):
        own["Id"] = config["policy_id"]
    sids: set[str] = set()
    own["Statement"] = []
    for block in config.get("statement") or []:
        if block.get("sid") in sids:
            raise PolicyError(f"duplicate Sid ({block['sid']}). Remove the Sid or ensure the Sid is unique.")
        if block.get("sid"):
            sids.add(block["sid"])
        own["Statement"].append(statement(block, version))
    _merge(merged, own)
    for i, text in enumerate(config.get("override_policy_documents") or []):
        _merge(merged, _document(text, "override", i))
    document = {k: merged[k] for k in ("Version", "Id", "Statement") if merged.get(k)}
    pretty = _go_json(document, 2)
    return {"json": pretty, "minified_json": _go_json(document, None), "id": str(zlib.crc32(pretty.encode()))}
