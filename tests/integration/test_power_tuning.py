"""AWS Lambda Power Tuning's calls, replayed against the local Lambda: the API operations its step functions make
(lambda/initializer.js, publisher.js, executor.js, cleaner.js, optimizer.js and utils.js of
alexcasalboni/aws-lambda-power-tuning), in its order and with its parameters, in its default mode and with
`onlyColdStarts`, the executors of every power value at once. None of its code is here; its own code, run against the
local Lambda with AWS_ENDPOINT_URL, is how docs/local-lambda.md says to check it."""
from __future__ import annotations

import base64
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import local_service, probe_definition

from lambda_ml_bench.local_lambda import functions

pytestmark = pytest.mark.integration
ARN = "arn:aws:lambda:us-east-1:000000000000:function:p"
POWER_VALUES = [128, 256]
NUM = 5  # the least its initializer accepts


def _alias(value: int, only_cold_starts: bool, index: int = 0) -> str:  # utils.buildAliasString
    return f"RAM{value}-{index}" if only_cold_starts else f"RAM{value}"


def _set_power(client, value: int, description: str | None) -> None:  # utils.setLambdaPower, waitForFunctionUpdate
    params = {"FunctionName": ARN, "MemorySize": value}
    if description is not None:  # the SDK leaves an undefined Description out
        params["Description"] = description
    client.update_function_configuration(**params)
    client.get_waiter("function_updated").wait(FunctionName=ARN, WaiterConfig={"Delay": 1})


def _create_power_configuration(client, value: int, alias: str | None, description: str | None) -> None:
    _set_power(client, value, description)
    version = client.publish_version(FunctionName=ARN)["Version"]
    if alias is None:  # restoring the original configuration: a version, no alias
        return
    try:  # utils.verifyAliasExistance
        client.get_alias(FunctionName=ARN, Name=alias)
        client.update_alias(FunctionName=ARN, FunctionVersion=version, Name=alias)
    except client.exceptions.ResourceNotFoundException:
        client.create_alias(FunctionName=ARN, FunctionVersion=version, Name=alias)


def _execute(client, value: int, only_cold_starts: bool) -> list[str]:
    """executor.js, runInParallel: each invocation's log tail."""
    config = client.get_function_configuration(FunctionName=ARN, Qualifier=_alias(value, only_cold_starts))
    assert config["Architectures"] == ["x86_64"] and config["State"] == "Active"

    def run(i: int) -> str:
        alias = _alias(value, only_cold_starts, i)
        if only_cold_starts:  # utils.waitForAliasActive
            client.get_waiter("function_active").wait(FunctionName=ARN, Qualifier=alias)
        answer = client.invoke(FunctionName=ARN, Qualifier=alias, Payload=b"{}", LogType="Tail")
        answer["Payload"].read()
        assert "FunctionError" not in answer
        return base64.b64decode(answer["LogResult"]).decode()

    with ThreadPoolExecutor(NUM) as pool:
        return list(pool.map(run, range(NUM)))


def _clean(client, alias: str) -> None:  # cleaner.js
    version = client.get_alias(FunctionName=ARN, Name=alias)["FunctionVersion"]
    client.delete_alias(FunctionName=ARN, Name=alias)
    client.delete_function(FunctionName=ARN, Qualifier=version)


@pytest.mark.parametrize("only_cold_starts", [False, True], ids=["default", "onlyColdStarts"])
def test_power_tunings_calls_are_answered_as_lambda_answers_them(sandbox: Path, tmp_path: Path,
                                                                 only_cold_starts: bool) -> None:
    specs = functions.from_file(probe_definition(tmp_path, memory_size=512, timeout=30))
    with local_service(specs) as (_, client):
        before = client.get_function_configuration(FunctionName=ARN, Qualifier="$LATEST")  # initializer
        power, description = before["MemorySize"], before["Description"]
        configurations = [(v, _alias(v, only_cold_starts, n), f"{description} - {_alias(v, True, n)}"
                           if only_cold_starts else None) for v in POWER_VALUES
                          for n in (range(NUM) if only_cold_starts else [0])]
        for value, alias, text in [*configurations, (power, None, description)]:  # publisher, one at a time
            _create_power_configuration(client, value, alias, text)

        with ThreadPoolExecutor(len(POWER_VALUES)) as pool:  # the Map state: every power value's executor at once
            logs = dict(zip(POWER_VALUES, pool.map(lambda v: _execute(client, v, only_cold_starts), POWER_VALUES)))
        for value, tails in logs.items():  # what utils.parseLogAndExtractDurations reads
            for tail in tails:
                assert re.search(r"\tDuration: (\d+\.\d+) ms", tail) and re.search(r"\tBilled Duration: (\d+) ms", tail)
                assert f"\tMemory Size: {value} MB" in tail
                if only_cold_starts:  # every alias is a version of its own: each invocation a cold start
                    assert re.search(r"\tInit Duration: (\d+\.\d+) ms", tail)

        aliases = [alias for _, alias, _ in configurations]
        with ThreadPoolExecutor(len(aliases)) as pool:  # the cleaner, every alias at once
            list(pool.map(lambda a: _clean(client, a), aliases))
        client.update_function_configuration(FunctionName=ARN, MemorySize=POWER_VALUES[0])  # the optimizer

        after = client.get_function_configuration(FunctionName=ARN)
        assert (after["MemorySize"], after["Description"]) == (POWER_VALUES[0], description)
        assert client.list_aliases(FunctionName=ARN)["Aliases"] == []
        # what it leaves on AWS too: the version its publisher made of the restored configuration
        versions = client.list_versions_by_function(FunctionName=ARN)["Versions"]
        assert [v["Version"] for v in versions] == ["$LATEST", str(len(configurations) + 1)]
        assert versions[1]["MemorySize"] == power
