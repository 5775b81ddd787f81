"""The stand-in provider's own logic: rendered policies, unknowns in plans, computed-only arguments."""
from __future__ import annotations

import json
import zlib

import pytest
from tf.types import Unknown

from lambda_ml_bench.tfcheck import policy, schema
from lambda_ml_bench.tfcheck.errors import PolicyError
from lambda_ml_bench.tfcheck.provider import unconfigurable, unknown_computed


def _doc(**config) -> dict:
    return json.loads(policy.render(config)["json"])


def test_a_one_element_set_is_written_as_a_string_and_longer_sets_reverse_sorted() -> None:
    doc = _doc(statement=[{"actions": ["logs:CreateLogStream", "logs:PutLogEvents"], "resources": ["arn:x"]}])
    assert doc == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:PutLogEvents", "logs:CreateLogStream"], "Resource": "arn:x"}]}


def test_principals_conditions_and_ids() -> None:
    doc = _doc(policy_id="p1", version="2008-10-17", statement=[{
        "sid": "A", "effect": "Deny", "not_actions": ["s3:*"], "not_resources": ["*"],
        "principals": [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]},
                       {"type": "AWS", "identifiers": ["arn:aws:iam::1:root", "arn:aws:iam::2:root"]}],
        "condition": [{"test": "StringLike", "variable": "s3:prefix", "values": ["b/", "a/"]},
                      {"test": "Bool", "variable": "aws:SecureTransport", "values": ["true"]}]}])
    assert doc["Id"] == "p1" and doc["Version"] == "2008-10-17"
    assert doc["Statement"][0] == {
        "Sid": "A", "Effect": "Deny", "NotAction": "s3:*", "NotResource": "*",
        "Principal": {"AWS": ["arn:aws:iam::2:root", "arn:aws:iam::1:root"], "Service": "lambda.amazonaws.com"},
        "Condition": {"Bool": {"aws:SecureTransport": "true"}, "StringLike": {"s3:prefix": ["b/", "a/"]}}}
    assert list(doc["Statement"][0]["Principal"]) == ["AWS", "Service"]  # Go writes map keys sorted


def test_everyone_as_principal_only_for_the_star_type() -> None:
    assert _doc(statement=[{"principals": [{"type": "*", "identifiers": ["*"]}]}])["Statement"][0]["Principal"] == "*"
    # IAM rejects "*" in trust policies but accepts {"AWS": "*"}: the provider keeps that one as written
    assert _doc(statement=[{"principals": [{"type": "AWS", "identifiers": ["*"]}]}])["Statement"][0]["Principal"] == {
        "AWS": "*"}


def test_policy_variables_are_written_with_an_ampersand() -> None:
    st = _doc(
        statement=[
            {
                "actions": ["s3:GetObject"],
                "resources": ["arn:aws:s3:::b/home/&{aws:username}/*"],
                "condition": [{"test": "StringLike", "variable": "s3:prefix", "values": ["&{aws:username}/"]}],
            }
        ]
    )
    assert st["Statement"][0]["Resource"] == "arn:aws:s3:::b/home/${aws:username}/*"
    assert st["Statement"][0]["Condition"] == {"StringLike": {"s3:prefix": "${aws:username}/"}}
    with pytest.raises(PolicyError, match="not supported in document version 2008-10-17"):
        policy.render({"version": "2008-10-17", "statement": [{"resources": ["&{aws:username}"]}]})


def test_source_and_override_documents_merge_by_sid() -> None:
    source = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Keep", "Effect": "Allow", "Action": "a:A", "Resource": "*"},
                {"Sid": "Mine", "Effect": "Allow", "Action": "a:Old", "Resource": "*"},
            ],
        }
    )
    override = json.dumps(
        {
            "Statement": [
                {"Sid": "Keep", "Effect": "Deny", "Action": "a:A", "Resource": "*"},
                {"Effect": "Allow", "Action": "a:Extra", "Resource": "*"},
            ]
        }
    )
    doc = _doc(
        source_policy_documents=[source],
        override_policy_documents=[override],
        statement=[{"sid": "Mine", "actions": ["a:New"], "resources": ["*"]}],
    )
    assert [(s.get("Sid"), s["Effect"], s["Action"]) for s in doc["Statement"]] == [
        ("Keep", "Deny", "a:A"),
        ("Mine", "Allow", "a:New"),
        (None, "Allow", "a:Extra"),
    ]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"statement": [{"effect": "allow"}]}, r'expected effect to be one of \["Allow" "Deny"\], got allow'),
        ({"statement": [{"sid": "S"}, {"sid": "S"}]}, r"duplicate Sid \(S\)"),
        ({"source_policy_documents": ["{not json"]}, "merging source document 0"),
        (
            {"source_policy_documents": ['{"Statement": [{"Sid": "A"}]}', '{"Statement": [{"Sid": "A"}]}']},
            r"duplicate Sid \(A\) in source_policy_documents",
        ),
        ({"source_json": "{}"}, "no longer used"),
        ({"version": "2020-01-01"}, "expected version to be one of"),
    ],
)
def test_documents_the_provider_rejects(config: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy.render(config)


def test_json_is_indented_minified_json_compact_both_with_gos_escaping() -> None:
    rendered = policy.render({"statement": [{"actions": ["a:B"], "resources": ["arn:x:<&>"]}]})
    assert json.loads(rendered["minified_json"]) == json.loads(rendered["json"])
    assert rendered["json"].startswith('{\n  "Version": "2012-10-17",\n  "Statement": [')
    assert " " not in rendered["minified_json"] and "\\u003c\\u0026\\u003e" in rendered["minified_json"]
    assert rendered["id"] == str(zlib.crc32(rendered["json"].encode()))
    assert "Statement" not in json.loads(policy.render({})["json"])


def test_a_planned_object_gets_unknowns_for_every_computed_null_nested_blocks_too() -> None:
    block = schema.block_json("resource", "aws_lambda_function")
    proposed = {name: None for name in block["attributes"]}
    proposed.update(
        function_name="f",
        role="r",
        memory_size=128,
        snap_start=[{"apply_on": "PublishedVersions", "optimization_status": None}],
    )
    planned = unknown_computed(proposed, block)
    assert planned["arn"] is Unknown and planned["function_name"] == "f" and planned["memory_size"] == 128
    assert planned["filename"] is None  # optional, not computed: stays as configured
    assert planned["snap_start"] == [{"apply_on": "PublishedVersions", "optimization_status": Unknown}]


def test_computed_only_arguments_are_found_with_their_path() -> None:
    block = schema.block_json("resource", "aws_lambda_function")
    config = {"function_name": "f", "arn": "x", "snap_start": [{"apply_on": "P", "optimization_status": "On"}]}
    assert unconfigurable(config, block) == [
        (("arn",), "arn"),
        (("snap_start", (0,), "optimization_status"), "optimization_status"),
    ]
    assert unconfigurable({"function_name": "f", "memory_size": Unknown}, block) == []


def test_validation_reports_known_bad_values_and_leaves_unknown_ones() -> None:
    assert policy.invalid({"version": "2020-01-01", "statement": [{"effect": "Allow"}, {"effect": "Maybe"}]}) == [
        (("version",), 'expected version to be one of ["2008-10-17" "2012-10-17"], got 2020-01-01'),
        (("statement", (1,), "effect"), 'expected effect to be one of ["Allow" "Deny"], got Maybe'),
    ]
    assert policy.invalid({"version": Unknown, "statement": Unknown}) == []


def test_a_damaged_schema_cache_is_rebuilt(tmp_path, monkeypatch) -> None:
    from lambda_ml_bench.tfcheck.provider import StandInProvider, StandInServicer

    cache = tmp_path / "aws.pb"
    cache.write_bytes(b"\xff\xff not a protobuf message")
    monkeypatch.setenv("TFCHECK_SCHEMA_CACHE", str(cache))
    served = StandInServicer(StandInProvider())._schema()
    assert len(served.resource_schemas) == len(schema.provider_schemas()["resource_schemas"])
    assert StandInServicer(StandInProvider())._schema() == served  # read back from the rewritten cache
    assert not list(tmp_path.glob("*.partial"))
