"""Where a function runs is read from its Tags, never from its Description."""
from __future__ import annotations

from lambda_ml_bench.local_lambda.functions import FunctionSpec, where_it_runs


def test_an_aws_function_is_lambda_whatever_its_description_says() -> None:
    # an AWS function has none of our tags; its own Description ("an emulated workload") is not read
    assert where_it_runs({"team": "ml", "Description": "emulated"}) == {
        "environment": "Lambda", "emulated": False, "allotment": "Lambda"}


def test_the_local_lambdas_tags_round_trip() -> None:
    from pathlib import Path

    for arch in ("arm64", "x86_64"):
        spec = FunctionSpec("f", "app.handler", arch, 128, 3, Path("/nowhere"))
        for allotted in (True, False):
            runs = where_it_runs(spec.tags(allotted))
            assert runs["environment"] == "local Lambda"
            assert runs["allotment"] == ("allotted" if allotted else "not allotted")
            assert runs["emulated"] == (spec.tags(allotted)["lambda-ml-bench:run"] == "emulated")
