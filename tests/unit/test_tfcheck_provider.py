"""The stand-in provider's own logic: rendered policies, unknowns in plans, computed-only arguments."""
from __future__ import annotations

import json

import pytest
from tf.types import Unknown

from tfcheck import policy, schema
from tfcheck.errors import PolicyError
from tfcheck.provider import unconfigurable, unknown_computed


def _doc(**config) -> dict:
    return json.loads(policy.render(config)["json"])


def test_a_one_element_list_is_written_as_a_string_and_sets_in_the_providers_order() -> None:
    doc = _doc(statement=[{"actions": ["logs:CreateLogStream", "logs:PutLogEvents"], "resources": ["arn:x"]}])
    assert doc == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:PutLogEvents", "logs:CreateLogStream"], "Resource": "arn:x"}]}


def test_principals_conditions_and_ids() -> None:
    doc = _doc(policy_id="p1", version="2008-10-17", statement=[{
        "sid": "A", "effect": "Deny", "not_actions": ["s3:*"], "not_resources": ["*"],
        "principals": [{"type": "AWS", "identifiers": ["arn:aws:iam::1:root", "arn:aws:iam::2:root"]},
                       {"type": "Service", "identifiers": ["lambda.amazonaws.com"]}],
        "condition": [{"test": "StringLike", "variable": "s3:prefix", "values": ["a/", "b/"]}]}])
    assert doc["Id"] == "p1" and doc["Version"] == "2008-10-17"
    assert doc["Statement"][0] == {
        "Sid": "A", "Effect": "Deny", "NotAction": "s3:*", "NotResource": "*",
        "Principal": {"AWS": ["arn:aws:iam::2:root", "arn:aws:iam::1:root"], "Service": "lambda.amazonaws.com"},
        "Condition": {"StringLike": {"s3:prefix": ["a/", "b/"]}}}


def test_everyone_as_principal() -> None:
    assert _doc(statement=[{"principals": [{"type": "*", "identifiers": ["*"]}]}])["Statement"][0]["Principal"] == "*"
    with pytest.raises(PolicyError, match='"\\*" principal'):
        policy.render({"statement": [{"principals": [{"type": "*", "identifiers": ["arn:aws:iam::1:root"]}]}]})


def test_source_and_override_documents_merge_by_sid() -> None:
    source = json.dumps({"Statement": [{"Sid": "Keep", "Effect": "Allow", "Action": "a:A", "Resource": "*"},
                                       {"Sid": "Mine", "Effect": "Allow", "Action": "a:Old", "Resource": "*"}]})
    override = json.dumps({"Statement": [{"Sid": "Keep", "Effect": "Deny", "Action": "a:A", "Resource": "*"}]})
    doc = _doc(source_policy_documents=[source], override_policy_documents=[override],
               statement=[{"sid": "Mine", "actions": ["a:New"], "resources": ["*"]}])
    assert [(s["Sid"], s["Effect"], s["Action"]) for s in doc["Statement"]] == [
        ("Keep", "Deny", "a:A"), ("Mine", "Allow", "a:New")]


@pytest.mark.parametrize("config, message", [
    ({"statement": [{"effect": "allow"}]}, "effect must be Allow or Deny"),
    ({"statement": [{"sid": "S"}, {"sid": "S"}]}, "sids must be unique"),
    ({"source_policy_documents": ["{not json"]}, "not JSON"),
])
def test_documents_the_provider_rejects(config: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy.render(config)


def test_minified_json_is_the_same_document() -> None:
    rendered = policy.render({"statement": [{"actions": ["a:B"], "resources": ["*"]}]})
    assert json.loads(rendered["minified_json"]) == json.loads(rendered["json"]) and " " not in rendered["minified_json"]
    assert rendered["id"] == policy.render({"statement": [{"actions": ["a:B"], "resources": ["*"]}]})["id"]


def test_a_planned_object_gets_unknowns_for_every_computed_null_nested_blocks_too() -> None:
    block = schema.block_json("resource", "aws_lambda_function")
    proposed = {name: None for name in block["attributes"]}
    proposed.update(function_name="f", role="r", memory_size=128,
                    snap_start=[{"apply_on": "PublishedVersions", "optimization_status": None}])
    planned = unknown_computed(proposed, block)
    assert planned["arn"] is Unknown and planned["function_name"] == "f" and planned["memory_size"] == 128
    assert planned["filename"] is None  # optional, not computed: stays as configured
    assert planned["snap_start"] == [{"apply_on": "PublishedVersions", "optimization_status": Unknown}]


def test_computed_only_arguments_are_found_with_their_path() -> None:
    block = schema.block_json("resource", "aws_lambda_function")
    config = {"function_name": "f", "arn": "x", "snap_start": [{"apply_on": "P", "optimization_status": "On"}]}
    assert unconfigurable(config, block) == [(("arn",), "arn"),
                                             (("snap_start", (0,), "optimization_status"), "optimization_status")]
    assert unconfigurable({"function_name": "f", "memory_size": Unknown}, block) == []
