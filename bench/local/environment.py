"""One execution environment: the RIE driving awslambdaric in a read-only Lambda-shaped root."""
from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.local.functions import REGION, FunctionSpec
from bench.pricing import billed_ms
from bench.local.sandbox import SANDBOX, python_command, root_dir
from layer_build.platforms import ARCHITECTURES
from layer_build.wheels import sha256_file

MiB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")
_START = re.compile(r"^START RequestId: (\S+)")
_INIT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
_RTDONE = re.compile(r"INVOKE RTDONE\(status: \w+, produced bytes: \d+, duration: ([\d.]+)ms\)")
_RIE_LINE = re.compile(r"^\d\d \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\)|^(END|REPORT) RequestId:")


_digests: dict[tuple[Path, int, int], str] = {}


def unpacked(source: Path) -> Path:
    """A zip unpacked once into a folder named by its hash; a folder is used as it is.

    The hash is computed once per file version: hashing a 57 MB layer on every cold start would
    add to what the cold-start figures measure.
    """
    if source.is_dir():
        return source
    st = source.stat()
    key = (source, st.st_size, st.st_mtime_ns)
    if key not in _digests:
        _digests[key] = sha256_file(source)
    dest = SANDBOX / "unpacked" / _digests[key][:20]
    if not dest.exists():
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(source) as zf:
            zf.extractall(partial)
        os.replace(partial, dest)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Invocation:
    """What one invoke produced, in the terms Lambda's Invoke API answers in."""

    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed
    request_id: str
    log: str  # this invocation's log lines, ending with Lambda's REPORT line
    duration_ms: float
    init_ms: float | None
    max_memory_mb: int


class Environment:
    """RIE + runtime for one function; serves one invocation at a time."""

    def __init__(self, spec: FunctionSpec, rie: Path) -> None:
        self.spec = spec
        self.arch = ARCHITECTURES[spec.architecture]
        self.rie = rie
        self.port = free_port()
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self.conn: socket.socket | None = None
        self._buffer = b""
        self.last_used = time.monotonic()
        self._pids: list[int] = []
        self._pids_at = 0.0
        self._peak, self._oom, self._last_rss = 0, False, 0
        self._busy = False

    # --- lifecycle --------------------------------------------------------------------------
    def bootstrap(self) -> list[str]:
        binds = {"/var/task": unpacked(self.spec.code)}
        if self.spec.layers:
            binds["/opt"] = unpacked(self.spec.layers[0])
        command = python_command(self.arch, root_dir(self.arch), binds)
        return [*command[:1], "--chdir", "/var/task", *command[1:], "-m", "awslambdaric", self.spec.handler]

    def environment(self) -> dict[str, str]:
        s = self.spec
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
            "AWS_LAMBDA_FUNCTION_NAME": s.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(s.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_TIMEOUT": str(s.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{s.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{self.port}",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EXECUTION_ENV": f"AWS_Lambda_{s.runtime}",
            "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime", "_HANDLER": s.handler,
            "PYTHONPATH": "/var/task:/opt/python:/var/runtime",
        }
        env.update({k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ})
        env.update({k: str(v) for k, v in s.environment.items()})
        return env

    def start(self) -> None:
        runtime_port = free_port()
        cmd = [str(self.rie), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
               "--runtime-api-address", f"127.0.0.1:{runtime_port}", *self.bootstrap()]
        self.proc = subprocess.Popen(cmd, env=self.environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, cwd="/")
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        threading.Thread(target=self._watch_memory, daemon=True).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the runtime interface emulator for {self.spec.name} did not start:\n"
                           + "".join(self.lines[-20:]))

    def _read_output(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                del self.lines[:-5000]
                self.cond.notify_all()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Kill the RIE and everything it started (its own process group)."""
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stdout and not self._reader.is_alive():
            self.proc.stdout.close()

    # --- invoking ---------------------------------------------------------------------------
    def _runtime_pids(self) -> list[int]:
        """The runtime's processes (everything under the RIE), looked up at most every 200 ms."""
        if time.monotonic() - self._pids_at > 0.2:
            try:
                self._pids = [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
            except (psutil.NoSuchProcess, AttributeError):
                self._pids = []
            self._pids_at = time.monotonic()
        return self._pids

    def _sample(self) -> int:
        """Resident memory of the runtime now; past the memory size it is killed (OOM)."""
        rss = 0
        for pid in self._runtime_pids():
            try:
                with open(f"/proc/{pid}/statm", "rb") as fh:
                    rss += int(fh.read().split()[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                self._pids_at = 0.0
        self._peak, self._last_rss = max(self._peak, rss), rss
        if rss > self.spec.memory_size * MiB and not self._oom:
            self._oom = True
            for pid in self._runtime_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return rss

    def _watch_memory(self) -> None:
        """Every 10 ms while an invocation runs, every 200 ms between them (the resident baseline).

        The request path only flips a flag: nothing wakes this thread, so a millisecond-long warm
        invoke is not slowed by it; such an invoke's memory is the baseline's.
        """
        while self.alive():
            time.sleep(0.01 if self._busy else 0.2)
            self._sample()

    def invoke(self, payload: bytes, want_log: bool = True) -> Invocation:
        """One invocation; the log and REPORT figures are collected only when `want_log`."""
        with self.cond:
            first_line = len(self.lines)
        self._peak, self._oom = self._last_rss, False
        self._busy = True
        try:
            status, body = self._post(payload)
        finally:
            self._busy = False
            self.last_used = time.monotonic()
        if not (want_log or self._oom or status >= 500 or b'"errorType"' in body or body.startswith(b"Task timed")):
            # the fast path of a warm, successful invoke nobody asked the log of
            return Invocation(body, None, "", "", 0.0, None, max(1, math.ceil(self._peak / MiB)))
        lines = self._lines_of_invocation(first_line)
        request_id = next((m[1] for m in map(_START.match, lines) if m), "")
        init = next((float(m[1]) for m in map(_INIT.search, lines) if m), None)
        duration = next((float(m[1]) for m in map(_RTDONE.search, lines) if m), None)
        error, payload_out = self._classify(status, body, request_id, self._oom)
        if duration is None:  # killed or timed out: the runtime never reported a duration
            duration = self.spec.timeout * 1000.0 if b"timed out" in payload_out else 0.0
        max_mb = max(1, math.ceil(self._peak / MiB))
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
                  f"Billed Duration: {billed_ms(duration, init)} ms\tMemory Size: {self.spec.memory_size} MB\t"
                  f"Max Memory Used: {max_mb} MB\t" + (f"Init Duration: {init:.2f} ms\t" if init is not None else ""))
        log_lines = [ln for ln in lines if not _RIE_LINE.match(ln)]
        log = "".join(log_lines) + f"END RequestId: {request_id}\n{report}\n"
        return Invocation(payload_out, error, request_id, log, duration, init, max_mb)

    def _post(self, payload: bytes) -> tuple[int, bytes]:
        """POST to the RIE over one kept-alive socket.

        A minimal HTTP/1.1 exchange: http.client's header parsing (the email package) costs more
        than the RIE's whole warm round trip.
        """
        request = (b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(payload)) + payload
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = socket.create_connection(("127.0.0.1", self.port))
                    self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.conn.settimeout(self.spec.timeout + 30)
                    self._buffer = b""
                self.conn.sendall(request)
                return self._read_response()
            except (ConnectionError, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2 or not self.alive():
                    raise
        raise AssertionError("unreachable")

    def _read_response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self._buffer:
            self._recv()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(b":", 1) for line in lines[1:])
        headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            while len(self._buffer) < length:
                self._recv()
            body, self._buffer = self._buffer[:length], self._buffer[length:]
        else:  # chunked
            body = b""
            while True:
                while b"\r\n" not in self._buffer:
                    self._recv()
                size_line, self._buffer = self._buffer.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self._buffer) < size + 2:
                    self._recv()
                body, self._buffer = body + self._buffer[:size], self._buffer[size + 2:]
                if size == 0:
                    break
        if headers.get(b"connection", b"").lower() == b"close":
            self.conn.close()
            self.conn = None
        return status, body

    def _recv(self) -> None:
        chunk = self.conn.recv(1 << 16)
        if not chunk:
            raise ConnectionResetError("the runtime interface emulator closed the connection")
        self._buffer += chunk

    def _lines_of_invocation(self, first: int) -> list[str]:
        """The log lines since `first`, once the RIE has written this invocation's END line."""
        deadline = time.monotonic() + 2
        with self.cond:
            while time.monotonic() < deadline:
                lines = self.lines[first:]
                if any(ln.startswith("END RequestId:") for ln in lines) or not self.alive():
                    return lines
                self.cond.wait(0.05)
            return self.lines[first:]

    def _classify(self, status: int, body: bytes, request_id: str, oom: bool) -> tuple[str | None, bytes]:
        """Turn the RIE's answer into Lambda's: function errors carry X-Amz-Function-Error."""
        import json

        if oom:
            message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
            return "Unhandled", json.dumps({"errorType": "Runtime.OutOfMemory", "errorMessage": message}).encode()
        if body.startswith(b"Task timed out after"):
            message = f"RequestId: {request_id} Error: {body.decode().strip()}"
            return "Unhandled", json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
        if status >= 500:  # the runtime exited (a crash): Lambda answers 200 with the error
            return "Unhandled", body
        if b'"errorType"' not in body:
            return None, body
        try:
            data = json.loads(body)
        except ValueError:
            return None, body
        # The RIE answers a handler exception with 200 and no error header; awslambdaric's error
        # document is recognised by its exact keys.
        if isinstance(data, dict) and {"errorMessage", "errorType"} <= set(data) <= {
                "errorMessage", "errorType", "requestId", "stackTrace"}:
            return "Unhandled", body
        return None, body
