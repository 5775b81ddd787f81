"""Shaping results and errors for HTTP v2 events (Function URL, API Gateway HTTP API)."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from .errors import PayloadError, safe
from .payload import as_object, http_body, http_method, is_http_event

log = logging.getLogger("handlers")
JSON_HEADERS = {"content-type": "application/json"}


SERVED_METHODS = ("POST",)  # a request is a JSON body; nothing is served without one


def respond(status: int, body: dict, headers: dict[str, str] | None = None) -> dict:
    return {"statusCode": status, "headers": {**JSON_HEADERS, **(headers or {})}, "body": json.dumps(body)}


def error_body(kind: str, message: str, field: str | None) -> dict:
    return {"error": {"type": kind, "message": message, "field": field}}


def serve(event: Any, work: Callable[[dict], dict]) -> dict:
    """Run `work` on the request object, for direct and HTTP invocations alike.

    Direct invocations let PayloadError propagate, so Lambda reports it as the function error
    with that errorType. HTTP invocations get 400 for the caller's faults and 500, without any
    detail of the fault, for ours; the traceback goes to the log only.
    """
    if not is_http_event(event):
        return work(as_object(event))
    method = http_method(event)
    if method not in SERVED_METHODS:
        return respond(405, error_body("MethodNotAllowed", f"{safe(str(method))} is not served; send "
                                       f"{' or '.join(SERVED_METHODS)} with a JSON body", None),
                       {"allow": ", ".join(SERVED_METHODS)})
    try:
        return respond(200, work(http_body(event)))
    except PayloadError as err:
        return respond(400, error_body("PayloadError", str(err), err.field))
    except Exception:
        log.exception("unhandled error while serving an HTTP request")
        return respond(500, error_body("InternalError", "internal error; see the function's logs", None))
