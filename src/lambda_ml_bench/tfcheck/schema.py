"""The AWS provider's schema, as `terraform providers schema -json` prints it, turned into plugin-protocol messages.

The file holds every resource and data source type of `hashicorp/aws` 6.47.0 but not the provider's own
configuration block; `PROVIDER_BLOCK` below is a permissive stand-in for that, written from the provider's
documentation.
"""
from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

from tf.gen import tfplugin_pb2 as pb

DATA = Path(__file__).resolve().parent / "data"
SCHEMA_FILE = DATA / "aws-6.47.0.json.gz"
SOURCE = "registry.terraform.io/hashicorp/aws"
VERSION = "6.47.0"

_NESTING = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
    "group": pb.Schema.NestedBlock.GROUP,
}
_OBJECT_NESTING = {
    "single": pb.Schema.Object.SINGLE,
    "list": pb.Schema.Object.LIST,
    "set": pb.Schema.Object.SET,
    "map": pb.Schema.Object.MAP,
}
_KIND = {"plain": pb.PLAIN, "markdown": pb.MARKDOWN}


def _optional(type_: object) -> dict:
    return {"type": type_, "optional": True, "description_kind": "plain"}


_STRINGS = ["list", "string"]
_ASSUME_ROLE = {
    "attributes": {name: _optional(t) for name, t in {
        "role_arn": "string", "session_name": "string", "external_id": "string", "duration": "string",
        "policy": "string", "policy_arns": ["set", "string"], "source_identity": "string",
        "tags": ["map", "string"], "transitive_tag_keys": ["set", "string"]}.items()},
}
_ENDPOINT_SERVICES = ("apigateway", "cloudwatch", "cloudwatchlogs", "dynamodb", "ec2", "ecr", "iam", "kms",
                      "lambda", "logs", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts", "xray")

#: The provider block, permissive: what a user of `hashicorp/aws` commonly writes validates.
PROVIDER_BLOCK = {
    "attributes": {name: _optional(t) for name, t in {
        "region": "string", "profile": "string", "access_key": "string", "secret_key": "string", "token": "string",
        "shared_config_files": _STRINGS, "shared_credentials_files": _STRINGS, "max_retries": "number",
        "retry_mode": "string", "allowed_account_ids": ["set", "string"], "forbidden_account_ids": ["set", "string"],
        "skip_credentials_validation": "bool", "skip_metadata_api_check": "string", "skip_region_validation": "bool",
        "skip_requesting_account_id": "bool", "s3_use_path_style": "bool", "insecure": "bool",
        "custom_ca_bundle": "string", "http_proxy": "string", "https_proxy": "string", "no_proxy": "string",
        "sts_region": "string", "use_dualstack_endpoint": "bool", "use_fips_endpoint": "bool",
        "ec2_metadata_service_endpoint": "string", "ec2_metadata_service_endpoint_mode": "string",
        "s3_us_east_1_regional_endpoint": "string", "token_bucket_rate_limiter_capacity": "number"}.items()},
    "block_types": {
        "default_tags": {"nesting_mode": "list", "max_items": 1,
                         "block": {"attributes": {"tags": _optional(["map", "string"])}}},
        "ignore_tags": {"nesting_mode": "list", "max_items": 1,
                        "block": {"attributes": {"keys": _optional(["set", "string"]),
                                                 "key_prefixes": _optional(["set", "string"])}}},
        "assume_role": {"nesting_mode": "list", "block": _ASSUME_ROLE},
        "assume_role_with_web_identity": {"nesting_mode": "list", "max_items": 1, "block": {"attributes": {
            name: _optional("string") for name in
            ("role_arn", "session_name", "duration", "policy", "web_identity_token", "web_identity_token_file")}}},
        "endpoints": {"nesting_mode": "set",
                      "block": {"attributes": {s: _optional("string") for s in _ENDPOINT_SERVICES}}},
    },
}


@cache
def provider_schemas() -> dict:
    """`.provider_schemas["registry.terraform.io/hashicorp/aws"]` of the schema file."""
    with gzip.open(SCHEMA_FILE) as fh:
        return json.load(fh)["provider_schemas"][SOURCE]


def block_json(kind: str, type_name: str) -> dict | None:
    """The JSON block of a `resource` or `data` type, or None when the provider has no such type."""
    entries = provider_schemas()["resource_schemas" if kind == "resource" else "data_source_schemas"]
    return entries[type_name]["block"] if type_name in entries else None


def _attribute(name: str, spec: dict) -> pb.Schema.Attribute:
    attribute = pb.Schema.Attribute(
        name=name,
        description=spec.get("description", ""),
        description_kind=_KIND[spec.get("description_kind", "plain")],
        required=spec.get("required", False),
        optional=spec.get("optional", False),
        computed=spec.get("computed", False),
        sensitive=spec.get("sensitive", False),
        deprecated=spec.get("deprecated", False),
    )
    if "nested_type" in spec:
        nested = spec["nested_type"]
        attribute.nested_type.CopyFrom(pb.Schema.Object(
            attributes=[_attribute(n, a) for n, a in sorted(nested["attributes"].items())],
            nesting=_OBJECT_NESTING[nested["nesting_mode"]],
        ))
    else:
        attribute.type = json.dumps(spec["type"], separators=(",", ":")).encode()
    return attribute


def block_pb(block: dict) -> pb.Schema.Block:
    return pb.Schema.Block(
        attributes=[_attribute(n, a) for n, a in sorted(block.get("attributes", {}).items())],
        block_types=[
            pb.Schema.NestedBlock(type_name=n, block=block_pb(b["block"]), nesting=_NESTING[b["nesting_mode"]],
                                  min_items=b.get("min_items", 0), max_items=b.get("max_items", 0))
            for n, b in sorted(block.get("block_types", {}).items())
        ],
        description=block.get("description", ""),
        description_kind=_KIND[block.get("description_kind", "plain")],
        deprecated=block.get("deprecated", False),
    )


_NESTING_NAMES = {v: k for k, v in _NESTING.items()}


def block_dict(block: pb.Schema.Block) -> dict:
    """The parts of a served block the stand-in's plans and validation read, in the JSON file's shape."""
    return {
        "attributes": {a.name: {"computed": a.computed, "optional": a.optional, "required": a.required}
                       for a in block.attributes},
        "block_types": {b.type_name: {"nesting_mode": _NESTING_NAMES[b.nesting], "block": block_dict(b.block)}
                        for b in block.block_types},
    }


def schema_pb(entry: dict) -> pb.Schema:
    return pb.Schema(version=entry.get("version", 0), block=block_pb(entry["block"]))
