"""Lambda's side of the Runtime API, served by the service to one environment's runtime.

The runtime asks for the next event (`GET /2018-06-01/runtime/invocation/next`, held open until there is one),
then posts its answer or its error for that request id; a runtime that cannot start posts an init error. INIT ends
when the runtime first asks for an event, so INIT and each invocation are timed apart, as Lambda times them.

The runtime is function code: everything it sends is bounded (a request head of 64 KiB, a response of Lambda's
6,291,556 bytes, an error document of 1 MiB) and a malformed request closes its own connection only. Each socket
sets TCP_NODELAY, and a body is read whole before the answer (otherwise every call waits 40-90 ms for an ACK).
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass

from lambda_ml_bench import lambda_facts

PREFIX = "/2018-06-01/runtime"
HEAD_MAX = 64 * 1024
ERROR_MAX = 1024 * 1024
CONNECTIONS_MAX = 8  # a runtime uses one or two; more are dropped


@dataclass
class Event:
    request_id: str
    payload: bytes
    deadline_ms: int  # epoch milliseconds, as Lambda-Runtime-Deadline-Ms says it
    function_arn: str
    trace_id: str


@dataclass
class Outcome:
    """How an invocation ended, as the Runtime API saw it."""

    kind: str  # "response", "error" (the runtime posted an error), "too-large", "timeout", "exited"
    body: bytes = b""
    delivered_ns: int = 0  # when the runtime received the event (perf_counter_ns)
    done_ns: int = 0  # when its answer arrived


class _BadRequest(Exception):
    """The runtime sent something that is not a request this API reads: its connection closes."""


class RuntimeApi:
    """The Runtime API of one environment, on a listening socket the service made (inside the environment's network
    namespace, or on the host's loopback for a function that asked for it). One runtime at a time: `reset()` starts
    a new one's life (after a retried INIT), and whatever an earlier one still holds open is answered no more."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.cond = threading.Condition()
        self.generation = 0
        self.ready_ns: int | None = None  # when the runtime first asked for an event: INIT's end
        self.init_error: bytes | None = None
        self._pending: Event | None = None
        self._current: str | None = None  # the request id the runtime holds
        self._outcome: Outcome | None = None
        self._delivered_ns = 0
        self._connections: set[socket.socket] = set()
        self.closed = False
        self._thread = threading.Thread(target=self._accept, name="runtime-api", daemon=True)
        self._thread.start()

    # --- the environment's side -------------------------------------------------------------------
    def reset(self) -> None:
        """A new runtime is starting: nothing of the previous one counts."""
        with self.cond:
            self.generation += 1
            self.ready_ns, self.init_error = None, None
            self._pending = self._current = self._outcome = None
            self.cond.notify_all()

    def wait_ready(self, deadline: float, alive) -> str:
        """"ready" once the runtime asked for its first event; "init-error", "exited" or "timeout" otherwise."""
        with self.cond:
            while True:
                if self.ready_ns is not None:
                    return "ready"
                if self.init_error is not None:
                    return "init-error"
                if not alive():
                    return "exited"
                left = deadline - time.monotonic()
                if left <= 0:
                    return "timeout"
                self.cond.wait(min(left, 0.05))

    def invoke(self, event: Event, deadline: float, alive) -> Outcome:
        """Hand `event` to the runtime and wait for its answer until `deadline` (time.monotonic)."""
        with self.cond:
            self._pending, self._outcome, self._delivered_ns = event, None, 0  # 0 until the runtime takes it
            self.cond.notify_all()
            while self._outcome is None:
                if not alive():
                    return Outcome("exited", delivered_ns=self._delivered_ns, done_ns=time.perf_counter_ns())
                left = deadline - time.monotonic()
                if left <= 0:
                    self._pending = self._current = None
                    return Outcome("timeout", delivered_ns=self._delivered_ns, done_ns=time.perf_counter_ns())
                self.cond.wait(min(left, 0.05))
            return self._outcome

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            for conn in list(self._connections):
                _shut(conn)
        self.listener.close()

    # --- the runtime's side -----------------------------------------------------------------------
    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.cond:
                if self.closed or len(self._connections) >= CONNECTIONS_MAX:
                    conn.close()
                    continue
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="runtime-api-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(conn)
        try:
            while not self.closed:
                request = reader.request()
                if request is None:
                    return
                if not self._answer(conn, reader, *request):
                    return
        except (OSError, _BadRequest):
            return
        finally:
            with self.cond:
                self._connections.discard(conn)
            conn.close()

    def _answer(self, conn: socket.socket, reader: _Reader, method: str, path: str, headers: dict) -> bool:
        """One request of the runtime; False when the connection is to close."""
        if method == "GET" and path == f"{PREFIX}/invocation/next":
            event = self._next_event()
            if event is None:
                return False
            _send(conn, 200, event.payload, {
                "Content-Type": "application/json", "Lambda-Runtime-Aws-Request-Id": event.request_id,
                "Lambda-Runtime-Deadline-Ms": str(event.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": event.function_arn, "Lambda-Runtime-Trace-Id": event.trace_id})
            with self.cond:
                self._delivered_ns = time.perf_counter_ns()
            return True
        if method != "POST":
            reader.skip_body(headers)
            _send_json(conn, 405, "MethodNotAllowed", f"{method} is not served here")
            return True
        if path == f"{PREFIX}/init/error":
            body = reader.body(headers, ERROR_MAX)
            with self.cond:
                if self.ready_ns is None and self.init_error is None:
                    self.init_error = _error_document(body, headers)
                    self.cond.notify_all()
            _send_json(conn, 202, None, "OK")
            return True
        parts = path[len(PREFIX):].split("/") if path.startswith(PREFIX + "/invocation/") else []
        if len(parts) != 4 or parts[3] not in ("response", "error"):
            reader.skip_body(headers)
            _send_json(conn, 404, "NotFound", "no such Runtime API path")
            return True
        request_id, what = parts[2], parts[3]
        limit = lambda_facts.RESPONSE_BYTES if what == "response" else ERROR_MAX
        body = reader.body(headers, limit)
        too_large = body is None
        with self.cond:
            if request_id != self._current:
                known = False
            else:
                known, self._current = True, None
                kind = "too-large" if too_large else what
                if what == "error" and not too_large:
                    body = _error_document(body, headers)
                self._outcome = Outcome(kind, b"" if too_large else body, self._delivered_ns, time.perf_counter_ns())
                self.cond.notify_all()
        if not known:
            _send_json(conn, 400, "InvalidRequestID", "Invalid request ID")
        elif too_large:
            _send_json(conn, 413, "RequestEntityTooLarge",
                       f"Exceeded maximum allowed payload size ({lambda_facts.RESPONSE_BYTES} bytes).")
        else:
            _send_json(conn, 202, None, "OK")
        return True

    def _next_event(self) -> Event | None:
        """The next event for the runtime, once there is one (None when the runtime is no longer the current one)."""
        with self.cond:
            generation = self.generation
            if self.ready_ns is None:
                self.ready_ns = time.perf_counter_ns()
                self.cond.notify_all()
            while self._pending is None:
                if self.closed or self.generation != generation:
                    return None
                self.cond.wait()
            event, self._pending = self._pending, None
            self._current = event.request_id
            return event


class _Reader:
    """Requests off one connection: a head of at most HEAD_MAX bytes, a body by Content-Length (or chunked)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def _more(self) -> bool:
        chunk = self.conn.recv(1 << 16)
        self.buffer += chunk
        return bool(chunk)

    def request(self) -> tuple[str, str, dict] | None:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > HEAD_MAX:
                raise _BadRequest("request head too long")
            if not self._more():
                return None
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if len(head) > HEAD_MAX:
            raise _BadRequest("request head too long")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = (lines[0].split(" ", 2) + ["", ""])[:3]
        if not (method.isalpha() and target.startswith("/") and version in ("HTTP/1.1", "HTTP/1.0")):
            raise _BadRequest("not an HTTP request line")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest("not a header line")
            headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            self.conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return method, target.split("?", 1)[0], headers

    def body(self, headers: dict, limit: int) -> bytes | None:
        """The body, or None (read and dropped, never held) when it is longer than `limit`."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked(limit)
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest("a Content-Length that is not a number") from None
        if length < 0:
            raise _BadRequest("a negative Content-Length")
        kept = length <= limit
        data = self._take(length, kept)
        return data if kept else None

    def _chunked(self, limit: int) -> bytes | None:
        parts, total = [], 0
        while True:
            try:
                size = int(self._line().split(b";")[0], 16)
            except ValueError:
                raise _BadRequest("a malformed chunk size") from None
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts) if total <= limit else None
            total += size
            data = self._take(size, total <= limit)
            if total <= limit:
                parts.append(data)
            if self._take(2, True) != b"\r\n":
                raise _BadRequest("a malformed chunk")

    def _line(self) -> bytes:
        """The next line (a chunk's size or a trailer), at most HEAD_MAX bytes."""
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > HEAD_MAX or not self._more():
                raise _BadRequest("a malformed chunk")
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _take(self, count: int, keep: bool) -> bytes:
        """The next `count` bytes of a body, read as they arrive and held only when `keep`: a body longer than what
        is kept costs no memory, however long it claims to be."""
        parts = []
        while count:
            if not self.buffer and not self._more():
                raise _BadRequest("the body ended early")
            piece, self.buffer = self.buffer[:count], self.buffer[count:]
            count -= len(piece)
            if keep:
                parts.append(piece)
        return b"".join(parts)

    def skip_body(self, headers: dict) -> None:
        self.body(headers, 0)


def _error_document(body: bytes, headers: dict) -> bytes:
    """The error as the caller gets it: the runtime's own JSON document when it sent one, else one made from the
    Lambda-Runtime-Function-Error-Type header."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and "errorType" in document:
        return body
    kind = headers.get("lambda-runtime-function-error-type", "") or "Runtime.Unknown"
    return json.dumps({"errorType": kind[:256], "errorMessage": body.decode("utf-8", "replace")[:4096]}).encode()


def _send(conn: socket.socket, status: int, body: bytes, headers: dict | None = None) -> None:
    reason = {100: "Continue", 200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found",
              405: "Method Not Allowed", 413: "Request Entity Too Large"}[status]
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    conn.sendall(f"HTTP/1.1 {status} {reason}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body)


def _send_json(conn: socket.socket, status: int, error_type: str | None, message: str) -> None:
    document = {"status": message} if error_type is None else {"errorType": error_type, "errorMessage": message}
    _send(conn, status, json.dumps(document).encode(), {"Content-Type": "application/json"})


def _shut(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
