"""The local Lambda answers as AWS answers, call by call. Each test names the AWS-recorded answer it follows:
LocalStack's snapshot files tests/aws/services/lambda_/test_lambda_api.snapshot.json (`api:`) and
test_lambda.snapshot.json (`lambda:`), or AWS's documentation where no snapshot records the call."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from support import raw_http

from lambda_ml_bench.local_lambda.functions import ACCOUNT, REGION

pytestmark = pytest.mark.integration
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
# api: TestLambdaFunction::test_lambda_code_location_zipfile, get-function-response, plus LoggingConfig
# (test_function_lifecycle, recorded later) and Layers (a function with a layer)
CONFIGURATION_KEYS = {"Architectures", "CodeSha256", "CodeSize", "Description", "EphemeralStorage", "FunctionArn",
                      "FunctionName", "Handler", "LastModified", "LastUpdateStatus", "LoggingConfig", "MemorySize",
                      "PackageType", "RevisionId", "Role", "Runtime", "RuntimeVersionConfig", "SnapStart", "State",
                      "Timeout", "TracingConfig", "Version"}


def http(local_lambda: str, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, dict, dict]:
    host, port = local_lambda.removeprefix("http://").split(":")
    request = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    status, head, answer = raw_http((host, int(port)), request)
    return status, head, json.loads(answer) if answer else {}


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def test_invoke_of_an_unknown_function(local_lambda: str) -> None:
    """lambda: Invoke of a function that does not exist (LAMBDA-FACTS): 404, the ARN with :$LATEST, `Type` and
    `Message` in the body, x-amzn-RequestId and x-amzn-ErrorType headers."""
    status, headers, body = http(local_lambda, "POST", "/2015-03-31/functions/no-such-fn/invocations", b"{}")
    assert status == 404 and headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert body == {"Type": "User", "Message": f"Function not found: {ARN}:no-such-fn:$LATEST"}
    assert len(headers["x-amzn-requestid"]) == 36


@pytest.mark.parametrize("operation", ["get_function", "get_function_configuration"])
def test_get_of_an_unknown_function(lambda_client, operation: str) -> None:
    """api: TestLambdaFunction::test_ops_on_nonexisting_fn[get_function] / [get_function_configuration]."""
    response = error_of(getattr(lambda_client, operation), FunctionName="no-such-fn")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Error"] == {
        "Code": "ResourceNotFoundException",
        "Message": f"Function not found: {ARN}:no-such-fn",
    }
    assert response["Type"] == "User" and response["Message"] == response["Error"]["Message"]


@pytest.mark.parametrize("operation", ["get_function", "get_function_configuration"])
def test_a_version_that_does_not_exist(lambda_client, operation: str) -> None:
    """api: TestLambdaFunction::test_ops_on_nonexisting_version[get_function] / [get_function_configuration]."""
    response = error_of(getattr(lambda_client, operation), FunctionName="probe-events", Qualifier="1221")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Error"]["Message"] == f"Function not found: {ARN}:probe-events:1221"


@pytest.mark.parametrize("operation", ["get_function", "get_function_configuration"])
def test_a_qualifier_that_disagrees_with_the_arn(lambda_client, operation: str) -> None:
    """api: TestLambdaFunction::test_ops_with_arn_qualifier_mismatch[get_function]: 400, and the body's message
    key is lower-case for this error."""
    response = error_of(getattr(lambda_client, operation), FunctionName=f"{ARN}:probe-events:$LATEST", Qualifier="1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "The derived qualifier from the function name does not match the specified qualifier.",
    }
    assert response["message"] == response["Error"]["Message"] and response["Type"] == "User"


def test_a_function_of_another_region(lambda_client) -> None:
    """api: TestLambdaFunction::test_get_function_wrong_region[get_function] and [invoke]."""
    for call in (lambda_client.get_function, lambda_client.invoke):
        response = error_of(call, FunctionName=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:probe-events")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert (
            response["Error"]["Message"] == f"Functions from 'eu-west-1' are not reachable in this region ('{REGION}')"
        )


@pytest.mark.parametrize(
    "name",
    [
        "probe-events",
        "probe-events:$LATEST",
        f"{ARN}:probe-events",
        f"{ARN}:probe-events:$LATEST",
        f"{ACCOUNT}:function:probe-events",
    ],
)
def test_names_qualified_names_and_arns_all_reach_the_function(lambda_client, name: str) -> None:
    """Invoke's FunctionName takes a name, name:qualifier, a partial or a full ARN (AWS API reference, Invoke)."""
    response = lambda_client.invoke(FunctionName=name, Payload=b'{"n": 1}')
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    assert json.loads(response["Payload"].read())["echo"] == {"n": 1}
    assert lambda_client.get_function_configuration(FunctionName=name)["FunctionName"] == "probe-events"


def test_get_function_has_the_keys_aws_returns(lambda_client) -> None:
    """api: TestLambdaFunction::test_lambda_code_location_zipfile, get-function-response: Code with Location and
    RepositoryType; no Concurrency unless reserved; Layers when there are layers; no Environment without
    variables. Tags, which AWS returns for a function that has them (the ListTags reference: "You can also view tags
    with GetFunction"): every local function has the local Lambda's own."""
    plain = lambda_client.get_function(FunctionName="probe-events")
    assert set(plain) - {"ResponseMetadata"} == {"Code", "Configuration", "Tags"}
    assert set(plain["Code"]) == {"Location", "RepositoryType"} and plain["Code"]["RepositoryType"] == "S3"
    assert set(plain["Configuration"]) == CONFIGURATION_KEYS
    config = plain["Configuration"]
    assert config["State"] == "Active" and config["LastUpdateStatus"] == "Successful" and config["Version"] == "$LATEST"
    assert config["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    layered = lambda_client.get_function(FunctionName="predict-x86_64")
    assert set(layered["Configuration"]) == CONFIGURATION_KEYS | {"Layers"}
    reserved = lambda_client.get_function(FunctionName="probe-x86_64")
    assert reserved["Concurrency"] == {"ReservedConcurrentExecutions": 1}


def test_list_functions_never_returns_state(lambda_client) -> None:
    """LAMBDA-FACTS (lambda: list_functions): ListFunctions leaves out State and LastUpdateStatus; like the
    listing AWS records for versions (api: test_publish_version_on_create, list_versions_result), it leaves out
    RuntimeVersionConfig too."""
    for fn in lambda_client.list_functions()["Functions"]:
        expected = CONFIGURATION_KEYS - {"State", "LastUpdateStatus", "RuntimeVersionConfig"}
        assert set(fn) == expected | ({"Layers"} if "Layers" in fn else set())


def test_update_function_configuration_answers_in_progress_then_get_shows_it_done(lambda_client) -> None:
    """api: TestLambdaFunction::test_function_lifecycle, update_func_conf_response (InProgress, "The function is
    being created.", Creating, a new RevisionId) and get_function_response_postupdate (Successful)."""
    before = lambda_client.get_function_configuration(FunctionName="probe-events")
    try:
        answer = lambda_client.update_function_configuration(FunctionName="probe-events", Timeout=5)
        assert (answer["LastUpdateStatus"], answer["LastUpdateStatusReason"], answer["LastUpdateStatusReasonCode"]) == (
            "InProgress",
            "The function is being created.",
            "Creating",
        )
        assert answer["State"] == "Active" and answer["Timeout"] == 5 and answer["RevisionId"] != before["RevisionId"]
        after = lambda_client.get_function_configuration(FunctionName="probe-events")
        assert after["LastUpdateStatus"] == "Successful" and "LastUpdateStatusReason" not in after
        lambda_client.get_waiter("function_updated").wait(FunctionName="probe-events")
    finally:
        lambda_client.update_function_configuration(FunctionName="probe-events", Timeout=before["Timeout"])


def test_memory_out_of_range_is_a_validation_error(lambda_client) -> None:
    """The API's own validation (AWS API reference, UpdateFunctionConfiguration: MemorySize 128-10240)."""
    status, headers, body = http(
        lambda_client.meta.endpoint_url,
        "PUT",
        "/2015-03-31/functions/probe-events/configuration",
        b'{"MemorySize": 20000}',
    )
    assert status == 400 and headers["x-amzn-errortype"] == "ValidationException"
    assert body["message"] == (
        "1 validation error detected: Value '20000' at 'memorySize' failed to satisfy constraint: "
        "Member must have value less than or equal to 10240"
    )


def test_throttling_names_the_reason(local_lambda: str, lambda_client) -> None:
    """AWS API reference, Invoke errors: TooManyRequestsException (429) with a Reason; reserved concurrency 1 and a
    second concurrent call."""
    import threading

    slow = threading.Thread(target=lambda: lambda_client.invoke(FunctionName="probe-x86_64", Payload=b'{"sleep": 1.5}'))
    slow.start()
    import time

    time.sleep(0.5)
    status, headers, body = http(
        local_lambda, "POST", f"/2015-03-31/functions/{quote('probe-x86_64')}/invocations", b"{}"
    )
    slow.join()
    assert status == 429 and headers["x-amzn-errortype"] == "TooManyRequestsException"
    assert body == {
        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        "Type": "User",
        "message": "Rate Exceeded.",
    }


def test_versions_and_aliases_bind_environments_to_a_configuration(lambda_client) -> None:
    """api: TestLambdaVersions::test_publish_version_on_create (201, the qualified ARN, repeated_publish_response:
    the same version when nothing changed, list_versions_result: $LATEST first, without State, LastUpdateStatus and
    RuntimeVersionConfig). Aliases: CreateAlias, Invoke and GetFunctionConfiguration through them, the conflict on
    deleting a version an alias points at, DeleteAlias, DeleteFunction with a qualifier."""
    name = "probe-events"
    before = lambda_client.get_function_configuration(FunctionName=name)
    try:
        lambda_client.update_function_configuration(
            FunctionName=name, MemorySize=256, Environment={"Variables": {"CELL": "a"}}
        )
        version = lambda_client.publish_version(FunctionName=name)
        assert version["ResponseMetadata"]["HTTPStatusCode"] == 201
        number = version["Version"]
        assert version["FunctionArn"] == f"{ARN}:{name}:{number}" and version["MemorySize"] == 256
        assert lambda_client.publish_version(FunctionName=name)["Version"] == number
        lambda_client.update_function_configuration(
            FunctionName=name, MemorySize=before["MemorySize"], Environment={"Variables": {}}
        )
        listed = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
        assert [v["Version"] for v in listed][0] == "$LATEST" and number in [v["Version"] for v in listed]
        assert not {"State", "LastUpdateStatus", "RuntimeVersionConfig"} & set(listed[0])
        alias = lambda_client.create_alias(FunctionName=name, Name="bench-256", FunctionVersion=number)
        assert alias["AliasArn"] == f"{ARN}:{name}:bench-256" and alias["FunctionVersion"] == number
        with pytest.raises(ClientError, match="Alias already exists"):
            lambda_client.create_alias(FunctionName=name, Name="bench-256", FunctionVersion=number)
        for call in (
            {"FunctionName": name, "Qualifier": "bench-256"},
            {"FunctionName": f"{name}:bench-256"},
            {"FunctionName": f"{ARN}:{name}:{number}"},
        ):
            response = lambda_client.invoke(Payload=b"{}", **call)
            environ = json.loads(response["Payload"].read())["environ"]
            assert response["ExecutedVersion"] == number
            assert (
                environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
                environ["AWS_LAMBDA_FUNCTION_VERSION"],
                environ["CELL"],
            ) == ("256", number, "a")
        config = lambda_client.get_function_configuration(FunctionName=name, Qualifier="bench-256")
        assert config["FunctionArn"].endswith(":bench-256") and config["Version"] == number
        assert lambda_client.get_function_configuration(FunctionName=name)["MemorySize"] == before["MemorySize"]
        response = error_of(lambda_client.delete_function, FunctionName=name, Qualifier=number)
        assert response["Error"]["Code"] == "ResourceConflictException"
        response = error_of(lambda_client.invoke, FunctionName=name, Qualifier="no-such-alias")
        assert response["Error"]["Message"] == f"Cannot find alias arn: {ARN}:{name}:no-such-alias"
        assert [a["Name"] for a in lambda_client.list_aliases(FunctionName=name)["Aliases"]] == ["bench-256"]
    finally:
        for alias in lambda_client.list_aliases(FunctionName=name)["Aliases"]:
            lambda_client.delete_alias(FunctionName=name, Name=alias["Name"])
        for v in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]:
            if v["Version"] != "$LATEST":
                lambda_client.delete_function(FunctionName=name, Qualifier=v["Version"])
    assert [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]
    response = error_of(lambda_client.delete_function, FunctionName=name, Qualifier="$LATEST")
    assert response["Error"]["Message"] == "$LATEST version cannot be deleted without deleting the function."
