"""The local Lambda service: Lambda's Invoke, ListFunctions and GetFunction on 127.0.0.1."""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from bench.local.environment import Environment
from bench.local.functions import FunctionSpec

log = logging.getLogger("bench.local")
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024  # Lambda's limit for RequestResponse invocations
MAX_ASYNC_PAYLOAD = 1024 * 1024  # ... and for Event invocations
LOG_TAIL_BYTES = 4096
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_FUNCTION = re.compile(r"^/2015-03-31/functions/([^/]+)/?$")
_LIST = re.compile(r"^/2015-03-31/functions/?$")
_CONFIGURATION = re.compile(r"^/2015-03-31/functions/([^/]+)/configuration$")
UPDATABLE = {"MemorySize": ("memory_size", 128, 10_240), "Timeout": ("timeout", 1, 900)}


class Throttled(Exception):
    """Every environment of the function is busy and the concurrency limit is reached."""


class FunctionPool:
    """The execution environments of one function: reused warm, started up to a limit."""

    def __init__(self, spec: FunctionSpec, rie: Path, limit: int) -> None:
        self.spec, self.rie = spec, rie
        self.limit = spec.reserved_concurrency or limit
        self.idle: list[Environment] = []
        self.busy = 0
        self.lock = threading.Lock()

    def acquire(self) -> Environment:
        with self.lock:
            while self.idle:
                env = self.idle.pop()
                if env.alive():
                    self.busy += 1
                    return env
                env.stop()
            if self.busy >= self.limit:
                raise Throttled(self.spec.name)
            self.busy += 1
        try:
            env = Environment(self.spec, self.rie)
            env.start()
            return env
        except BaseException:
            with self.lock:
                self.busy -= 1
            raise

    def release(self, env: Environment) -> None:
        with self.lock:
            self.busy -= 1
            if env.alive() and env.spec == self.spec:
                self.idle.append(env)
            else:  # crashed, or configured before an update: the next request starts afresh
                env.stop()

    def update(self, changes: dict) -> None:
        """UpdateFunctionConfiguration: new environments get the new settings; idle ones retire."""
        with self.lock:
            self.spec = dataclasses.replace(self.spec, **changes)
            for env in self.idle:
                env.stop()
            self.idle = []

    def retire_idle(self, older_than_s: float) -> None:
        now = time.monotonic()
        with self.lock:
            keep = []
            for env in self.idle:
                (keep.append(env) if now - env.last_used < older_than_s else env.stop())
            self.idle = keep

    def stop(self) -> None:
        with self.lock:
            for env in self.idle:
                env.stop()
            self.idle = []


class LocalLambda(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, specs: list[FunctionSpec], rie: Path, concurrency: int = 2,
                 idle_seconds: float = 600.0, memory_quota: int = 10_240) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.pools = {s.name: FunctionPool(s, rie, concurrency) for s in specs}
        self.idle_seconds = idle_seconds
        self.memory_quota = memory_quota  # a new account's is 3,008 MB
        self.stopping = threading.Event()
        threading.Thread(target=self._reaper, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def _reaper(self) -> None:
        while not self.stopping.wait(min(30.0, self.idle_seconds / 2)):
            for pool in self.pools.values():
                pool.retire_idle(self.idle_seconds)

    def shutdown_all(self) -> None:
        self.stopping.set()
        self.shutdown()
        for pool in self.pools.values():
            pool.stop()


class _Headers(dict):
    """Request headers, looked up without regard to case."""

    def get(self, key: str, default=None):
        return super().get(key.lower(), default)

    def __getitem__(self, key: str):
        return super().__getitem__(key.lower())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalLambda

    def setup(self) -> None:
        super().setup()
        import socket

        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), fmt % args)

    def parse_request(self) -> bool:
        """Request line and headers, parsed without the email package (a warm invoke is ~1 ms)."""
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.send_error(400, f"Bad request line {line!r}")
            return False
        self.command, self.path, self.request_version = parts
        self.headers = _Headers()
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = str(raw, "iso-8859-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        conn = self.headers.get("connection", "").lower()
        self.close_connection = conn == "close" or (self.request_version == "HTTP/1.0" and conn != "keep-alive")
        return True

    # --- answers ----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Status line, headers and body in one write: one packet for small answers."""
        self.log_request(status, len(body))
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _error(self, status: int, kind: str, message: str) -> None:
        body = json.dumps({"Type": "User", "message": message}).encode()
        self._send(status, body, {"x-amzn-ErrorType": kind})

    def _pool(self, name: str) -> FunctionPool | None:
        name = unquote(name).split(":")[-1] if unquote(name).startswith("arn:") else unquote(name)
        pool = self.server.pools.get(name)
        if pool is None:
            self._error(404, "ResourceNotFoundException",
                        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}")
        return pool

    # --- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if _LIST.match(path):
            functions = [p.spec.configuration() for p in self.server.pools.values()]
            return self._send(200, json.dumps({"Functions": functions}).encode())
        match = _CONFIGURATION.match(path)
        if match:
            pool = self._pool(match[1])
            if pool:
                self._send(200, json.dumps(pool.spec.configuration()).encode())
            return
        match = _FUNCTION.match(path)
        if match:
            pool = self._pool(match[1])
            if pool:
                config = pool.spec.configuration()
                body = {"Configuration": config, "Code": {"RepositoryType": "S3", "Location": str(pool.spec.code)},
                        "Concurrency": {"ReservedConcurrentExecutions": pool.limit}}
                self._send(200, json.dumps(body).encode())
            return
        self._error(404, "ResourceNotFoundException", f"no route for GET {path}")

    def do_PUT(self) -> None:
        """UpdateFunctionConfiguration: MemorySize, Timeout and Environment."""
        path = self.path.split("?", 1)[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _CONFIGURATION.match(path)
        if not match:
            return self._error(404, "ResourceNotFoundException", f"no route for PUT {path}")
        pool = self._pool(match[1])
        if pool is None:
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
        changes = {}
        for key, (field, low, high) in UPDATABLE.items():
            if key in request:
                value = request[key]
                if type(value) is not int or not low <= value <= high:
                    return self._error(400, "InvalidParameterValueException", f"{key} must be an integer from {low} to {high}")
                if key == "MemorySize" and value > self.server.memory_quota:  # AWS's words for an account's quota
                    return self._error(400, "ValidationException", "'MemorySize' value failed to satisfy constraint: "
                                       f"Member must have value less than or equal to {self.server.memory_quota}")
                changes[field] = value
        if "Environment" in request:
            changes["environment"] = dict(request["Environment"].get("Variables", {}))
        unknown = set(request) - set(UPDATABLE) - {"Environment"}
        if unknown:
            return self._error(400, "InvalidParameterValueException",
                               f"the local Lambda updates MemorySize, Timeout and Environment only, not {sorted(unknown)}")
        pool.update(changes)
        self._send(200, json.dumps(pool.spec.configuration()).encode())

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if length > limit:
            self._discard(length)
            return self._error(413, "RequestEntityTooLargeException",
                               f"{length} byte payload is too large for the {kind} invocation type (limit {limit} bytes)")
        payload = self.rfile.read(length) if length else b"{}"
        match = _INVOKE.match(path)
        if not match:
            return self._error(404, "ResourceNotFoundException", f"no route for POST {path}")
        pool = self._pool(match[1])
        if pool is None:
            return
        if kind == "DryRun":
            return self._send(204, b"")
        if kind not in ("RequestResponse", "Event"):
            return self._error(400, "InvalidParameterValueException", f"unknown invocation type {kind}")
        try:
            json.loads(payload)
        except ValueError:
            return self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
        if kind == "Event":
            threading.Thread(target=self._invoke_quietly, args=(pool, payload), daemon=True).start()
            return self._send(202, b"")
        try:
            env = pool.acquire()
        except Throttled:
            return self._error(429, "TooManyRequestsException", "Rate Exceeded.")
        except Exception as err:  # the environment could not start
            return self._error(502, "ServiceException", str(err))
        try:
            result = env.invoke(payload, want_log=self.headers.get("X-Amz-Log-Type") == "Tail")
        except Exception as err:
            env.stop()
            return self._error(502, "ServiceException", f"the execution environment failed: {err}")
        finally:
            pool.release(env)
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": result.request_id or str(uuid.uuid4())}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            tail = result.log.encode()[-LOG_TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        self._send(200, result.payload, headers)

    def _discard(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)

    @staticmethod
    def _invoke_quietly(pool: FunctionPool, payload: bytes) -> None:
        for _ in range(60):  # an Event waits for a free environment instead of failing
            try:
                env = pool.acquire()
                break
            except Throttled:
                time.sleep(1)
        else:
            log.warning("event for %s dropped: throttled for a minute", pool.spec.name)
            return
        try:
            env.invoke(payload)
        finally:
            pool.release(env)
