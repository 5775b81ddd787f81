"""Lambda's API answers: function names and qualifiers, and the errors in AWS's own words and shapes.

The shapes follow AWS's recorded answers in LocalStack's snapshot files
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, test_lambda.snapshot.json): a
ResourceNotFoundException body has `Type` and `Message`, an InvalidParameterValueException body
`Type` and a lower-case `message` (TestLambdaFunction::test_ops_with_arn_qualifier_mismatch), and
every answer carries `x-amzn-RequestId`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from lambda_ml_bench.local_lambda.functions import ACCOUNT, REGION
from lambda_ml_bench.sandbox.isolation import RESERVED

_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                  r"function:(?P<name>[A-Za-z0-9_-]+)(:(?P<qualifier>[A-Za-z0-9$_-]+))?$")
_PARTIAL = re.compile(r"^(?P<account>\d{12}):function:(?P<name>[A-Za-z0-9_-]+)(:(?P<qualifier>[A-Za-z0-9$_-]+))?$")
_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_-]{1,64})(:(?P<qualifier>[A-Za-z0-9$_-]+))?$")
LATEST = "$LATEST"
MESSAGE_LIMIT = 1024  # what of a caller's input an error message echoes at most


@dataclass
class ApiError(Exception):
    """An error answer: HTTP status, AWS's error type (x-amzn-ErrorType), and its body."""

    status: int
    code: str
    message: str
    message_key: str = "Message"
    extra: dict = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps({**self.extra, "Type": "User", self.message_key: self.message}).encode()


def function_arn(name: str, qualifier: str | None = None) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")


def not_found(name: str, qualifier: str | None = None) -> ApiError:
    """test_lambda_api snapshot, TestLambdaFunction::test_ops_on_nonexisting_fn and
    test_ops_on_nonexisting_version: the ARN, with the qualifier when one was asked for."""
    return ApiError(404, "ResourceNotFoundException", f"Function not found: {function_arn(name, qualifier)}")


def alias_not_found(name: str, alias: str) -> ApiError:
    """An alias the function does not have (LocalStack's provider words it from AWS's recorded answers)."""
    return ApiError(404, "ResourceNotFoundException", f"Cannot find alias arn: {function_arn(name, alias)}")


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameterValueException", message, "message")


def validation(field: str, value: int, low: int, high: int) -> ApiError:
    """A number outside its range, in the words AWS's request validation uses (a new account's 3,008 MB
    memory quota is refused the same way)."""
    bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
    return validation_error(str(value), f"{field[0].lower()}{field[1:]}", f"Member must have value {bound}")


RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"  # the function's own reservation
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"  # the account's concurrent executions


QUALIFIER_MAX = 128
QUALIFIER_PATTERN = re.compile(r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+")
DESCRIPTION_MAX = 256
VARIABLE_NAME = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")  # Lambda's pattern for an environment variable's name


def validation_error(value: str, field: str, constraint: str) -> ApiError:
    """AWS's request validation, in its words: "1 validation error detected: Value '...' at 'field' failed to satisfy
    constraint: ..." (the value clipped: a caller's input is echoed at most 200 characters long)."""
    shown = value if len(value) <= 200 else value[:200] + f"... ({len(value)} characters)"
    message = f"1 validation error detected: Value '{shown}' at '{field}' failed to satisfy constraint: {constraint}"
    return ApiError(400, "ValidationException", message, "message")


def check_qualifier(qualifier: str | None) -> None:
    """test_lambda_api snapshot, TestLambdaFunction::test_function_name_and_qualifier_validation[qualifier_too_long-
    invoke] (and -get_function, -delete_function): ValidationException above 128 characters; and
    [invalid_characters_in_qualifier-invoke] (-get_function, -delete_function): characters outside the pattern."""
    if qualifier is not None and len(qualifier) > QUALIFIER_MAX:
        raise validation_error(qualifier, "qualifier",
                               f"Member must have length less than or equal to {QUALIFIER_MAX}")
    if qualifier is not None and not QUALIFIER_PATTERN.fullmatch(qualifier):
        raise validation_error(qualifier, "qualifier",
                               f"Member must satisfy regular expression pattern: {QUALIFIER_PATTERN.pattern}")


def check_variables(variables: dict) -> None:
    """Environment variable names as Lambda takes them ([a-zA-Z]([a-zA-Z0-9_])+), in AWS's words for a map's keys;
    all of them together within 4 KB (test_lambda_api snapshot, TestLambdaSizeLimits::
    test_large_environment_variables_fails: the message ends with the string it measured)."""
    reserved = reserved_variables(variables)  # reserved names first: _HANDLER is refused as reserved
    if reserved:
        raise reserved
    bad = sorted(k for k in variables if not VARIABLE_NAME.fullmatch(k))
    if bad:
        raise validation_error(bad[0], "environment.variables",
                               "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
                               "[a-zA-Z]([a-zA-Z0-9_])+]")
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > 4096:
        raise invalid(clip("Lambda was unable to configure your environment variables because the environment "
                           f"variables you have provided exceeded the 4KB limit. String measured: {measured}"))


def check_description(description) -> str:
    if not isinstance(description, str):
        raise bad_request("Description must be a string")
    if len(description) > DESCRIPTION_MAX:
        raise validation_error(description, "description",
                               f"Member must have length less than or equal to {DESCRIPTION_MAX}")
    return description


def too_many_requests(reason: str = RESERVED_LIMIT) -> ApiError:
    """A concurrency limit reached: Lambda names which beside the message (test_lambda snapshot,
    TestLambdaConcurrency::test_reserved_concurrency, exc_no_cap_requestresponse)."""
    return ApiError(429, "TooManyRequestsException", "Rate Exceeded.", "message", {"Reason": reason})


def too_large(limit: int, operation: str = "InvokeFunction") -> ApiError:
    return ApiError(413, "RequestEntityTooLargeException",
                    f"Request must be smaller than {limit} bytes for the {operation} operation", "message")


def forbidden(message: str) -> ApiError:
    """A request this service does not serve: not its own Host, or from a web page."""
    return ApiError(403, "AccessDeniedException", clip(message), "Message")


def unsupported_media(kind: str) -> ApiError:
    """A body a web form or a page's script could send: Lambda's API takes JSON, or a payload of no form type."""
    return ApiError(415, "UnsupportedMediaTypeException", clip(
        f"Content-Type {kind!r} is not accepted: Lambda's API takes JSON (curl: -H 'Content-Type: application/json')"),
        "message")


def event_too_large(size: int, limit: int) -> ApiError:
    """An Event payload over its 1 MB, in AWS's words (its answer to such an Invoke, as SDK users quote it)."""
    return ApiError(413, "RequestEntityTooLargeException",
                    f"{size} byte payload is too large for the Event invocation type (limit {limit} bytes)", "message")


def unparsable_payload(err: Exception) -> ApiError:
    """A payload that is not JSON: AWS's words, then its parser's own message (test_lambda snapshot,
    TestLambdaErrors::test_lambda_invoke_payload_encoding_error, invoke_function_invalid_payload_body)."""
    return bad_request(f"Could not parse request body into json: Could not parse payload into json: {err}")


def header_too_large(what: str) -> ApiError:
    return ApiError(431, "InvalidRequestContentException", f"Request Header Fields Too Large: {what}", "message")


def bad_request(message: str) -> ApiError:
    """A request that is not well-formed HTTP or JSON."""
    return ApiError(400, "InvalidRequestContentException", clip(message), "message")


def clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + f"... ({len(text)} characters)"


def resolve(function_name: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """(name, qualifier) from a name, `name:qualifier`, a partial ARN or a full ARN, and an explicit
    `Qualifier`; qualifiers that disagree are refused as AWS refuses them
    (TestLambdaFunction::test_ops_with_arn_qualifier_mismatch)."""
    match = _ARN.match(function_name) or _PARTIAL.match(function_name) or _NAME.match(function_name)
    if match is None:
        raise invalid(clip(f"1 validation error detected: Value '{function_name}' at 'functionName' failed to "
                            "satisfy constraint: Member must satisfy regular expression pattern: "
                            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                            "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"))
    groups = match.groupdict()
    if groups.get("region") and groups["region"] != REGION:
        raise ApiError(404, "ResourceNotFoundException",
                       f"Functions from '{groups['region']}' are not reachable in this region ('{REGION}')")
    derived = groups.get("qualifier")
    if derived and qualifier and derived != qualifier:
        raise invalid("The derived qualifier from the function name does not match the specified qualifier.")
    return groups["name"], derived or qualifier


def reserved_variables(variables: dict) -> ApiError | None:
    """Lambda's refusal of reserved keys in a configuration's environment."""
    used = sorted(set(variables) & RESERVED)
    if not used:
        return None
    return invalid("Lambda was unable to configure your environment variables because the environment variables "
                   "you have provided contains reserved keys that are currently not supported for modification. "
                   f"Reserved keys used in this request: {','.join(used)}")
