"""The local Lambda's API front on 127.0.0.1: Invoke, ListFunctions, GetFunction(Configuration),
UpdateFunctionConfiguration, PublishVersion, ListVersionsByFunction, Create/Get/Update/Delete/ListAliases
and DeleteFunction (a version, or the function), answered in AWS's shapes (local_lambda/api.py).

Requests are bounded, so that no client can stall the service: at most MAX_CONNECTIONS requests are served at once,
counted from the moment a request's head has arrived whole (a connection still sending its head, or idle between
requests, holds no slot); a head must arrive whole within HEAD_TIMEOUT_S of its first byte, a connection that sends
nothing for IDLE_TIMEOUT_S is closed, and at most MAX_OPEN connections are open at once (more are closed as they
come). Header lines and blocks are capped (431), a body must have one valid Content-Length (or be chunked, not both)
within the operation's limit, and a malformed request gets an error answer while serving goes on.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote

from lambda_ml_bench import lambda_facts
from lambda_ml_bench.local_lambda import api, state
from lambda_ml_bench.local_lambda.api import ApiError
from lambda_ml_bench.local_lambda.environment import ephemeral_dir
from lambda_ml_bench.local_lambda.functions import FunctionSpec
from lambda_ml_bench.local_lambda.pools import Concurrency, Function, FunctionPool
from lambda_ml_bench.sandbox import storage
from lambda_ml_bench.sandbox.allotment import SERVICE_PREFIX, open_hierarchy, reclaim_leftovers

log = logging.getLogger("local_lambda")
MAX_CONFIG_BODY = 64 * 1024  # an UpdateFunctionConfiguration body (Lambda's variables total 4 KB)
MAX_CONNECTIONS = 64  # requests served at once
MAX_OPEN = 512  # connections open at once, whatever they are doing
IDLE_TIMEOUT_S = 30.0  # a connection silent this long is closed
HEAD_TIMEOUT_S = 5.0  # a request line and headers arrive whole within this long of their first byte
BODY_TIMEOUT_S = 30.0  # ... and a body (6 MB at most) within this long of its head
MAX_HEADER_LINE = 8192
MAX_HEADER_BLOCK = 64 * 1024
MAX_HEADER_LINES = 100
LOG_TAIL_BYTES = 4096
# the body types a web page may POST to any address without a CORS preflight
SIMPLE_CONTENT_TYPES = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_FUNCTION = re.compile(r"^/2015-03-31/functions/([^/]+)/?$")
_LIST = re.compile(r"^/2015-03-31/functions/?$")
_CONFIGURATION = re.compile(r"^/2015-03-31/functions/([^/]+)/configuration$")
_VERSIONS = re.compile(r"^/2015-03-31/functions/([^/]+)/versions$")
_ALIASES = re.compile(r"^/2015-03-31/functions/([^/]+)/aliases$")
_ALIAS = re.compile(r"^/2015-03-31/functions/([^/]+)/aliases/([^/]+)$")
_TAGS = re.compile(r"^/2017-03-31/tags/([^/]+)/?$")
UPDATABLE = {"MemorySize": ("memory_size", *lambda_facts.MEMORY_MB), "Timeout": ("timeout", *lambda_facts.TIMEOUT_S)}


def account_limit() -> int:
    """The account's concurrent executions by default: Lambda's 1,000, or as many of the smallest environments
    (128 MB) as this machine's memory holds, if fewer."""
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    return max(1, min(lambda_facts.ACCOUNT_CONCURRENCY, memory_mb // lambda_facts.MEMORY_MB[0]))


class LocalLambda(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS
    block_on_close = False

    def __init__(self, port: int, specs: list[FunctionSpec], concurrency: int | None = None,
                 idle_seconds: float = 600.0, memory_quota: int = lambda_facts.MEMORY_MB[1], allot: bool = True,
                 idle_timeout_s: float = IDLE_TIMEOUT_S, state_path: Path | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.idle_timeout_s = idle_timeout_s
        ended = reclaim_leftovers()  # what a service killed outright left running, and its environments' /tmp
        storage.reclaim()
        if ended:
            log.warning("ended %d execution environments left by a local Lambda that was killed", ended)
        port = self.server_address[1]
        self.hierarchy, why = (open_hierarchy(f"{SERVICE_PREFIX}{port}-{os.getpid()}") if allot
                               else (None, "switched off"))
        if self.hierarchy is not None:
            self.allotment_note = "CPU and memory allotted as Lambda allots them"
        else:
            self.allotment_note = f"CPU and memory NOT allotted ({why})"
            log.warning("CPU and memory are not allotted to environments: %s", why)
        self.account = Concurrency(concurrency or account_limit())  # the account's concurrent executions
        self.functions = {s.name: Function(s, self.account, self.hierarchy, self.allotment_note, idle_seconds)
                          for s in specs}
        self.state_path, self.deleted, self.other_states = state_path, set(), {}
        self._state_lock = threading.Lock()
        if state_path is not None:
            self._restore(state_path)
        self.idle_seconds = idle_seconds
        self.memory_quota = memory_quota  # a new account's is 3,008 MB
        self.stopping = threading.Event()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)  # taken once a request's head is in
        self._open, self._open_lock = 0, threading.Lock()
        self.heads: dict[socket.socket, float] = {}  # connections sending a head or body, and when it must be in
        self.heads_lock = threading.Lock()
        threading.Thread(target=self._reaper, daemon=True).start()
        threading.Thread(target=self._head_watch, daemon=True).start()

    def _restore(self, path: Path) -> None:
        """What an earlier service on this port was configured to through the API (state.py)."""
        saved, self.deleted = state.load(path)
        for name in self.deleted:
            self.functions.pop(name, None)
        for name, function_state in saved.items():
            if name in self.functions:
                self.functions[name].restore(function_state)
            else:
                self.other_states[name] = function_state
        if saved or self.deleted:
            log.info("configuration restored from %s", path)

    def save_state(self) -> None:
        """Every change, on disk before it is answered (a crash or kill -9 loses nothing that was answered)."""
        if self.state_path is None:
            return
        with self._state_lock:
            state.save(self.state_path, self.functions, self.deleted, self.other_states)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def process_request(self, request, client_address) -> None:
        """One thread per connection, at most MAX_OPEN open at once: more are closed as they come."""
        with self._open_lock:
            if self._open >= MAX_OPEN:
                self.shutdown_request(request)
                return
            self._open += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            with self._open_lock:
                self._open -= 1
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open -= 1

    def _head_watch(self) -> None:
        """Connections whose head is not in by its deadline are shut: a client dripping bytes keeps no thread."""
        while not self.stopping.wait(0.25):
            now = time.monotonic()
            with self.heads_lock:
                late = [conn for conn, deadline in self.heads.items() if deadline < now]
            for conn in late:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _reaper(self) -> None:
        while not self.stopping.wait(min(30.0, max(0.5, self.idle_seconds / 10))):
            for function in list(self.functions.values()):
                for pool in function.pools():
                    pool.retire_idle(self.idle_seconds)

    def shutdown_all(self) -> None:
        """Stop serving, end every environment (busy ones too) and remove the control groups."""
        self.stopping.set()
        self.shutdown()
        self.stop_environments()

    def stop_environments(self) -> None:
        for function in list(self.functions.values()):
            function.stop()
        if self.hierarchy is not None:
            self.hierarchy.remove()
        try:  # this process's /tmp folder, once no environment (of any service in it) has one left
            ephemeral_dir().rmdir()
        except OSError:
            pass

    def function(self, function_name: str, qualifier: str | None = None,
                 invoking: bool = False) -> tuple[Function, str | None]:
        """The function a name or ARN names, and the qualifier asked for (from the ARN or `Qualifier`)."""
        name, qualifier = api.resolve(unquote(function_name), qualifier)
        api.check_qualifier(qualifier)
        function = self.functions.get(name)
        if function is None:
            raise api.not_found(name, api.LATEST if invoking and qualifier is None else qualifier)
        return function, qualifier

    def pool(self, function_name: str, qualifier: str | None = None, invoking: bool = False) -> FunctionPool:
        function, qualifier = self.function(function_name, qualifier, invoking)
        return function.pool(qualifier)


class _Headers(dict):
    """Request headers, looked up without regard to case."""

    def get(self, key: str, default=None):
        return super().get(key.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalLambda

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout_s  # a half-sent request is dropped after this long
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request_id = str(uuid.uuid4())

    def log_message(self, fmt: str, *args) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), fmt % args)

    def handle_one_request(self) -> None:
        """One request: its head read within HEAD_TIMEOUT_S of its first byte (holding no slot), then served in one
        of the MAX_CONNECTIONS slots."""
        self.requestline = ""
        try:
            if not self.rfile.peek(1):  # waits for a first byte as long as the idle timeout
                self.close_connection = True
                return
            with self.server.heads_lock:  # from the first byte on, the whole head within HEAD_TIMEOUT_S
                self.server.heads[self.connection] = time.monotonic() + HEAD_TIMEOUT_S
            try:
                self.raw_requestline = self.rfile.readline(MAX_HEADER_LINE + 1)
                if not self.raw_requestline or not self.parse_request():
                    return
            finally:
                with self.server.heads_lock:
                    self.server.heads.pop(self.connection, None)
            with self.server.slots:
                method = getattr(self, "do_" + self.command, None)
                if method is None:
                    self._error(ApiError(501, "UnknownOperationException", "Unsupported method", "message"))
                else:
                    method()
                self.wfile.flush()
        except (TimeoutError, OSError):
            self.close_connection = True

    def parse_request(self) -> bool:
        """Request line and headers, parsed without the email package (a warm invoke is ~1 ms); lines and the block
        capped (431), framing that two parsers could read differently refused (400), the connection closed."""
        self.request_id = str(uuid.uuid4())
        self.close_connection = True  # until the head is known good
        if not self.raw_requestline.endswith(b"\n"):
            self._error(ApiError(414, "InvalidRequestContentException", "the request line is too long", "message"))
            return False
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._error(api.bad_request(f"Bad request line {line[:200]!r}"))
            return False
        self.command, self.path, self.request_version = parts
        self.headers = _Headers()
        seen, size = set(), 0
        for _ in range(MAX_HEADER_LINES):
            raw = self.rfile.readline(MAX_HEADER_LINE + 1)
            if raw == b"":  # the client went away, or was too slow: no answer
                return False
            if raw in (b"\r\n", b"\n"):
                break
            size += len(raw)
            if not raw.endswith(b"\n") or size > MAX_HEADER_BLOCK:
                self._error(api.header_too_large("a header line" if not raw.endswith(b"\n") else "the headers"))
                return False
            name, _, value = str(raw, "iso-8859-1").partition(":")
            name = name.strip().lower()
            if name in seen and name in ("content-length", "transfer-encoding", "host"):
                self._error(api.bad_request(f"{name} given twice"))
                return False
            seen.add(name)
            self.headers[name] = value.strip()
        else:
            self._error(api.header_too_large(f"more than {MAX_HEADER_LINES} header lines"))
            return False
        if "transfer-encoding" in self.headers:
            if "content-length" in self.headers:
                self._error(api.bad_request("both Content-Length and Transfer-Encoding"))
                return False
            if self.headers["transfer-encoding"].strip().lower() != "chunked":
                self._error(api.bad_request("Transfer-Encoding other than chunked"))
                return False
        conn = self.headers.get("connection", "").lower()
        self.close_connection = conn == "close" or (self.request_version == "HTTP/1.0" and conn != "keep-alive")
        return True

    # --- answers ----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Status line, headers and body in one write: one packet for small answers."""
        self.log_request(status, len(body))
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", f"x-amzn-RequestId: {self.request_id}"]
        if self.close_connection:
            lines.append("Connection: close")
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _error(self, err: ApiError) -> None:
        self._send(err.status, err.body(), {"x-amzn-ErrorType": err.code})

    def _body(self, limit: int, operation: str = "InvokeFunction") -> bytes:
        """The request body within `limit` bytes and BODY_TIMEOUT_S (a slow body holds a slot no longer):
        Content-Length checked, or chunked read as it comes. A body over the limit is not read: the answer closes the
        connection."""
        with self.server.heads_lock:
            self.server.heads[self.connection] = time.monotonic() + BODY_TIMEOUT_S
        try:
            return self._read_body(limit, operation)
        finally:
            with self.server.heads_lock:
                self.server.heads.pop(self.connection, None)

    def _read_body(self, limit: int, operation: str) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise api.bad_request("malformed chunked body") from None
                if size < 0 or len(body) + size > limit:
                    self.close_connection = True
                    raise api.too_large(limit, operation)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline(1024)
        raw = self.headers.get("content-length")
        if raw is None:
            return b""
        if not raw.isdigit():  # negative, signed or not a number: the length cannot be trusted
            self.close_connection = True
            raise api.bad_request(f"Content-Length must be a non-negative integer, not {raw[:40]!r}")
        length = int(raw)
        if length > limit:
            self.close_connection = True
            raise api.too_large(limit, operation)
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise api.bad_request(f"the body ended after {len(body)} of {length} bytes")
        return body

    def _only_its_user(self) -> None:
        """Requests a web page could make are refused: a Host that is not this service (DNS rebinding), an Origin
        (only browsers send one), and the body types a page may send without asking first (CORS "simple"
        requests); nothing here answers a preflight, so a page can send nothing else."""
        port = self.server.server_address[1]
        host = self.headers.get("host")
        if host is not None and host.lower() not in {"127.0.0.1", "localhost", f"127.0.0.1:{port}",
                                                     f"localhost:{port}"}:
            self.close_connection = True
            raise api.forbidden(f"this local Lambda serves requests for 127.0.0.1:{port} only, not Host {host!r}")
        if self.headers.get("origin") is not None:
            self.close_connection = True
            raise api.forbidden("this local Lambda does not serve web pages (the request has an Origin)")
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in SIMPLE_CONTENT_TYPES:
            self.close_connection = True
            raise api.unsupported_media(kind)

    def _route(self, handler) -> None:
        try:
            self._only_its_user()
            handler(self.path.split("?", 1)[0], parse_qs(self.path.partition("?")[2]))
        except ApiError as err:
            self._error(err)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as err:  # the service keeps serving; the caller learns what failed
            log.exception("request failed")
            self._error(ApiError(500, "ServiceException", f"the local Lambda failed: {err}"))

    def do_GET(self) -> None:
        self._route(self._get)

    def do_PUT(self) -> None:
        self._route(self._put)

    def do_POST(self) -> None:
        self._route(self._post)

    def do_DELETE(self) -> None:
        self._route(self._delete)

    def _json_body(self, operation: str) -> dict:
        body = self._body(MAX_CONFIG_BODY, operation)
        try:
            request = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise api.bad_request("Could not parse request body into json") from None
        if not isinstance(request, dict):
            raise api.bad_request("Could not parse request body into json: expected an object")
        return request

    # --- routes -----------------------------------------------------------------------------
    def _get(self, path: str, query: dict) -> None:
        self._body(MAX_CONFIG_BODY, "GetFunction")
        qualifier = query.get("Qualifier", [None])[0]
        if _LIST.match(path):
            functions = [f.latest.configuration(listing=True) for f in self.server.functions.values()]
            return self._send(200, json.dumps({"Functions": functions}).encode())
        if match := _CONFIGURATION.match(path):
            function, qualifier = self.server.function(match[1], qualifier)
            config = function.pool(qualifier).configuration(qualifier=qualifier)
            return self._send(200, json.dumps(config).encode())
        if match := _FUNCTION.match(path):
            function, qualifier = self.server.function(match[1], qualifier)
            pool = function.pool(qualifier)
            body = {"Code": {"Location": pool.spec.code.as_uri(), "RepositoryType": "S3"},
                    "Configuration": pool.configuration(qualifier=qualifier), "Tags": pool.tags()}
            if pool.spec.reserved_concurrency:
                body["Concurrency"] = {"ReservedConcurrentExecutions": pool.spec.reserved_concurrency}
            return self._send(200, json.dumps(body).encode())
        if match := _TAGS.match(path):  # ListTags, by the function's ARN
            function, _ = self.server.function(match[1])
            return self._send(200, json.dumps({"Tags": function.latest.tags()}).encode())
        if match := _VERSIONS.match(path):  # ListVersionsByFunction: $LATEST first
            function, _ = self.server.function(match[1])
            versions = [p.configuration(listing=True, qualifier=p.version) for p in function.pools()]
            return self._send(200, json.dumps({"Versions": versions}).encode())
        if match := _ALIASES.match(path):
            function, _ = self.server.function(match[1])
            wanted = query.get("FunctionVersion", [None])[0]
            aliases = [function.alias_configuration(a) for a in sorted(function.aliases)
                       if wanted is None or function.aliases[a]["FunctionVersion"] == wanted]
            return self._send(200, json.dumps({"Aliases": aliases}).encode())
        if match := _ALIAS.match(path):
            function, _ = self.server.function(match[1])
            if unquote(match[2]) not in function.aliases:
                raise api.alias_not_found(function.name, unquote(match[2]))
            return self._send(200, json.dumps(function.alias_configuration(unquote(match[2]))).encode())
        raise ApiError(404, "UnknownOperationException", "Unknown operation", "message")

    def _delete(self, path: str, query: dict) -> None:
        """DeleteAlias, or DeleteFunction of a version (a qualifier) or of the whole function."""
        self._body(MAX_CONFIG_BODY, "DeleteFunction")
        if match := _ALIAS.match(path):
            function, _ = self.server.function(match[1])
            function.delete_alias(unquote(match[2]))
            self.server.save_state()
            return self._send(204, b"")
        if match := _FUNCTION.match(path):
            function, qualifier = self.server.function(match[1], query.get("Qualifier", [None])[0])
            if qualifier is None:
                self.server.functions.pop(function.name, None)
                self.server.deleted.add(function.name)
                function.stop()
            else:
                function.delete_version(qualifier)
            self.server.save_state()
            return self._send(204, b"")
        raise ApiError(404, "UnknownOperationException", "Unknown operation", "message")

    def _put(self, path: str, query: dict) -> None:
        """UpdateFunctionConfiguration: MemorySize, Timeout and Environment."""
        if match := _ALIAS.match(path):  # UpdateAlias
            request = self._json_body("UpdateAlias")
            function, _ = self.server.function(match[1])
            answer = function.put_alias(unquote(match[2]), request.get("FunctionVersion"), request.get("Description"),
                                        create=False)
            self.server.save_state()
            return self._send(200, json.dumps(answer).encode())
        match = _CONFIGURATION.match(path)
        if not match:
            raise ApiError(404, "UnknownOperationException", "Unknown operation", "message")
        request = self._json_body("UpdateFunctionConfiguration")
        function, _ = self.server.function(match[1])
        pool = function.latest
        changes = {}
        for key, (attr, low, high) in UPDATABLE.items():
            if key in request:
                value = request[key]
                if type(value) is not int:
                    raise api.bad_request(f"{key} must be an integer")
                if not low <= value <= high:
                    raise api.validation(key, value, low, high)
                if key == "MemorySize" and value > self.server.memory_quota:  # AWS's words for an account's quota
                    raise api.validation(key, value, low, self.server.memory_quota)
                changes[attr] = value
        if "Environment" in request:
            environment = request["Environment"]
            variables = environment.get("Variables", {}) if isinstance(environment, dict) else None
            if not isinstance(variables, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
                raise api.bad_request("Environment must be an object whose Variables map names to strings")
            api.check_variables(variables)
            changes["environment"] = dict(variables)
        if "Description" in request:
            changes["user_description"] = api.check_description(request["Description"])
        if "EphemeralStorage" in request:  # /tmp's size: new environments get it
            ephemeral = request["EphemeralStorage"]
            size = ephemeral.get("Size") if isinstance(ephemeral, dict) else None
            if type(size) is not int:
                raise api.bad_request("EphemeralStorage must be an object with an integer Size")
            low, high = lambda_facts.EPHEMERAL_STORAGE_MB
            if not low <= size <= high:
                raise api.validation("EphemeralStorage.size", size, low, high)
            changes["ephemeral_storage"] = size
        unknown = set(request) - set(UPDATABLE) - {"Environment", "Description", "EphemeralStorage"}
        if unknown:
            raise api.invalid(api.clip(f"the local Lambda updates MemorySize, Timeout, Environment, Description and "
                                        f"EphemeralStorage only, not {sorted(unknown)}"))
        pool.update(changes)
        self.server.save_state()
        answer = pool.configuration()
        # AWS's answer while the update applies (test_function_lifecycle, update_func_conf_response)
        answer.update(LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being created.",
                      LastUpdateStatusReasonCode="Creating")
        self._send(200, json.dumps(dict(sorted(answer.items()))).encode())

    def _post(self, path: str, query: dict) -> None:
        if match := _VERSIONS.match(path):  # PublishVersion: 201 with the version's configuration
            self._json_body("PublishVersion")
            function, _ = self.server.function(match[1])
            pool, _ = function.publish()
            self.server.save_state()
            return self._send(201, json.dumps(pool.configuration(qualifier=pool.version)).encode())
        if match := _ALIASES.match(path):  # CreateAlias
            request = self._json_body("CreateAlias")
            function, _ = self.server.function(match[1])
            if not isinstance(request.get("Name"), str) or not isinstance(request.get("FunctionVersion"), str):
                raise api.invalid("CreateAlias needs Name and FunctionVersion")
            answer = function.put_alias(request["Name"], request["FunctionVersion"], request.get("Description", ""),
                                        create=True)
            self.server.save_state()
            return self._send(201, json.dumps(answer).encode())
        kind = self.headers.get("x-amz-invocation-type", "RequestResponse")
        declared = self.headers.get("content-length", "")
        if kind == "Event" and declared.isdigit() and int(declared) > lambda_facts.ASYNC_PAYLOAD_BYTES:
            self.close_connection = True  # not read
            raise api.event_too_large(int(declared), lambda_facts.ASYNC_PAYLOAD_BYTES)
        payload = self._body(lambda_facts.SYNC_PAYLOAD_BYTES) or b"{}"
        if kind == "Event" and len(payload) > lambda_facts.ASYNC_PAYLOAD_BYTES:  # chunked: known once read
            raise api.event_too_large(len(payload), lambda_facts.ASYNC_PAYLOAD_BYTES)
        match = _INVOKE.match(path)
        if not match:
            raise ApiError(404, "UnknownOperationException", "Unknown operation", "message")
        pool = self.server.pool(match[1], query.get("Qualifier", [None])[0], invoking=True)
        if kind not in ("RequestResponse", "Event", "DryRun"):
            raise api.invalid(f"1 validation error detected: Value '{kind[:40]}' at 'invocationType' failed to "
                              "satisfy constraint: Member must satisfy enum value set: "
                              "[Event, RequestResponse, DryRun]")
        if kind == "DryRun":
            return self._send(204, b"")
        try:
            json.loads(payload)
        except (ValueError, RecursionError) as err:
            raise api.unparsable_payload(err) from None
        if kind == "Event":
            threading.Thread(target=self._invoke_quietly, args=(pool, payload), daemon=True).start()
            return self._send(202, b"")
        env = pool.acquire()  # may raise TooManyRequestsException
        try:
            result = env.invoke(payload, want_log=self.headers.get("x-amz-log-type") == "Tail")
        except Exception as err:
            env.stop()
            raise ApiError(502, "ServiceException", f"the execution environment failed: {err}") from err
        finally:
            pool.release(env)
        if result.request_id:
            self.request_id = result.request_id
        headers = {"X-Amz-Executed-Version": pool.version}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if self.headers.get("x-amz-log-type") == "Tail":
            tail = result.log.encode()[-LOG_TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        self._send(200, result.payload, headers)

    @staticmethod
    def _invoke_quietly(pool: FunctionPool, payload: bytes) -> None:
        for _ in range(60):  # an Event waits for a free environment instead of failing
            try:
                env = pool.acquire()
                break
            except ApiError:
                time.sleep(1)
            except RuntimeError:  # the service is stopping
                return
        else:
            log.warning("event for %s dropped: throttled for a minute", pool.spec.name)
            return
        try:
            env.invoke(payload)
        except Exception as err:
            log.warning("event for %s failed: %s", pool.spec.name, err)
        finally:
            pool.release(env)
