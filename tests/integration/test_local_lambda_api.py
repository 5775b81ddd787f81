"""The local Lambda answers as AWS answers, call by call. Each test names the AWS-recorded answer it follows:
LocalStack's snapshot files tests/aws/services/lambda_/test_lambda_api.snapshot.json (`api:`) and
test_lambda.snapshot.json (`lambda:`), or AWS's documentation where no snapshot records the call."""
from __future__ import annotations

import json
import time
from pathlib import Path
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
    request = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n{headers}"
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


def test_a_payload_that_is_not_json_gets_awss_words_and_the_parsers_own(local_lambda: str) -> None:
    """lambda: TestLambdaErrors::test_lambda_invoke_payload_encoding_error (invoke_function_invalid_payload_body):
    400 InvalidRequestContentException, "Could not parse request body into json: Could not parse payload into json: "
    and then what the parser said."""
    for payload in (b"{not json", b"n\x87r\x9e"):
        status, headers, body = http(local_lambda, "POST", "/2015-03-31/functions/probe-events/invocations", payload)
        assert status == 400 and headers["x-amzn-errortype"] == "InvalidRequestContentException"
        prefix = "Could not parse request body into json: Could not parse payload into json: "
        assert body["message"].startswith(prefix) and len(body["message"]) > len(prefix) + 10


def test_an_event_over_1_mb_is_refused_in_awss_words(lambda_client) -> None:
    """An Event payload over 1 MB: 413 RequestEntityTooLargeException, "<N> byte payload is too large for the Event
    invocation type (limit 1048576 bytes)" (what AWS answers, as its SDK users quote it); 6 MB stays the limit of a
    synchronous one."""
    payload = json.dumps({"x": "a" * (1024 * 1024)}).encode()
    err = error_of(lambda_client.invoke, FunctionName="probe-events", InvocationType="Event", Payload=payload)
    assert err["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err["Error"]["Message"] == (f"{len(payload)} byte payload is too large for the Event invocation type "
                                       "(limit 1048576 bytes)")


def test_the_account_limit_throttles_in_its_own_words_and_keeps_warm_environments(definitions: Path,
                                                                                    sandbox: Path) -> None:
    """Concurrency as Lambda counts it: a function without a reservation is limited by the account's concurrent
    executions (TooManyRequestsException, Reason ConcurrentInvocationLimitExceeded), and a throttled Invoke takes no
    environment out of the pool: the next call is warm, on the same environment."""
    import base64
    import threading

    from support import local_service

    from lambda_ml_bench.local_lambda import functions

    specs = [s for s in functions.from_file(definitions) if s.name in ("probe-events", "probe-x86_64")]
    with local_service(specs, concurrency=1) as (server, _):
        import boto3
        from botocore.config import Config

        client = boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local",
                              config=Config(retries={"total_max_attempts": 1}))
        def call(name: str, payload: bytes) -> dict:
            answer = client.invoke(FunctionName=name, Payload=payload, LogType="Tail")
            answer["Payload"].read()  # the connection goes back to the pool, and closes with the client
            return answer

        first = call("probe-events", b"{}")
        assert "Init Duration" in base64.b64decode(first["LogResult"]).decode()
        slow = threading.Thread(target=call, args=("probe-x86_64", b'{"sleep": 1.5}'))
        slow.start()
        time.sleep(0.7)
        err = error_of(client.invoke, FunctionName="probe-events", Payload=b"{}")
        slow.join()
        assert err["Error"]["Code"] == "TooManyRequestsException"
        assert err["Reason"] == "ConcurrentInvocationLimitExceeded"
        again = call("probe-events", b"{}")
        client.close()
        assert "Init Duration" not in base64.b64decode(again["LogResult"]).decode()
        assert len(server.functions["probe-events"].latest.every) == 1


@pytest.mark.parametrize("name", ["A=B", "", "1ABC", "A-B", "A\x00B", "A\ud800", "X"])
def test_variable_names_lambda_refuses_are_refused_and_change_nothing(lambda_client, name: str) -> None:
    """Names must match [a-zA-Z]([a-zA-Z0-9_])+ (LAMBDA-FACTS): 400 ValidationException, the update (its MemorySize
    too) not applied, and the function still answers."""
    before = lambda_client.get_function_configuration(FunctionName="probe-events")
    err = error_of(lambda_client.update_function_configuration, FunctionName="probe-events", MemorySize=256,
                   Environment={"Variables": {name: "x", "GOOD_NAME": "y"}})
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400 and err["Error"]["Code"] == "ValidationException"
    assert "at 'environment.variables' failed to satisfy constraint" in err["Error"]["Message"]
    after = lambda_client.get_function_configuration(FunctionName="probe-events")
    assert (after["MemorySize"], after.get("Environment"), after["RevisionId"]) == (
        before["MemorySize"], before.get("Environment"), before["RevisionId"])
    assert lambda_client.invoke(FunctionName="probe-events", Payload=b"{}")["StatusCode"] == 200


def test_variables_over_4_kb_are_refused_with_the_string_measured(lambda_client) -> None:
    """test_lambda_api: TestLambdaSizeLimits::test_large_environment_variables_fails (failed_create_fn_result)."""
    err = error_of(lambda_client.update_function_configuration, FunctionName="probe-events",
                   Environment={"Variables": {"LARGE_VAR": "x" * 4097}})
    assert err["Error"]["Code"] == "InvalidParameterValueException"
    assert err["Error"]["Message"].startswith(
        "Lambda was unable to configure your environment variables because the environment variables you have "
        'provided exceeded the 4KB limit. String measured: {"LARGE_VAR":"xxx')


def test_a_description_is_stored_and_returned_up_to_256_characters(lambda_client) -> None:
    before = lambda_client.get_function_configuration(FunctionName="probe-events")["Description"]
    try:
        lambda_client.update_function_configuration(FunctionName="probe-events", Description="d" * 256)
        assert lambda_client.get_function_configuration(FunctionName="probe-events")["Description"] == "d" * 256
        err = error_of(lambda_client.update_function_configuration, FunctionName="probe-events",
                       Description="d" * 257)
        assert err["Error"]["Code"] == "ValidationException" and "at 'description'" in err["Error"]["Message"]
        assert lambda_client.get_function_configuration(FunctionName="probe-events")["Description"] == "d" * 256
    finally:
        lambda_client.update_function_configuration(FunctionName="probe-events", Description=before)


@pytest.mark.parametrize("length", [129, 5000])
def test_a_qualifier_over_128_characters_is_refused_without_echoing_it_whole(lambda_client, length: int) -> None:
    """test_lambda_api: TestLambdaFunction::test_function_name_and_qualifier_validation[qualifier_too_long-invoke]
    (and -get_function): ValidationException, "... at 'qualifier' failed to satisfy constraint: Member must have
    length less than or equal to 128"; the value echoed at most a few hundred characters of it."""
    for call in (lambda_client.invoke, lambda_client.get_function):
        err = error_of(call, FunctionName="probe-events", Qualifier="q" * length)
        assert err["Error"]["Code"] == "ValidationException"
        assert err["Error"]["Message"].endswith(
            "at 'qualifier' failed to satisfy constraint: Member must have length less than or equal to 128")
        assert len(err["Error"]["Message"]) < 500


def test_a_qualifier_with_characters_outside_the_pattern_is_refused(lambda_client) -> None:
    """test_lambda_api: TestLambdaFunction::test_function_name_and_qualifier_validation[invalid_characters_in_qualifier-
    invoke] (and -get_function, -delete_function): the qualifier's pattern, in AWS's words."""
    for call in (lambda_client.invoke, lambda_client.get_function, lambda_client.delete_function):
        err = error_of(call, FunctionName="probe-events", Qualifier="invalid!")
        assert err["Error"]["Code"] == "ValidationException"
        assert err["Error"]["Message"] == (
            "1 validation error detected: Value 'invalid!' at 'qualifier' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: \\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+")
    assert lambda_client.get_function(FunctionName="probe-events")["Configuration"]["FunctionName"] == "probe-events"
