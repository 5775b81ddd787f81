"""One execution environment: the RIE driving awslambdaric in a read-only Lambda-shaped root."""
from __future__ import annotations

import http.client
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
from bench.local.sandbox import EMULATOR_MOUNT, SANDBOX, root_dir
from layer_build.platforms import ARCHITECTURES
from layer_build.wheels import sha256_file

MiB = 1024 * 1024
_START = re.compile(r"^START RequestId: (\S+)")
_INIT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
_RTDONE = re.compile(r"INVOKE RTDONE\(status: \w+, produced bytes: \d+, duration: ([\d.]+)ms\)")
_RIE_LINE = re.compile(r"^\d\d \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\)|^(END|REPORT) RequestId:")


def unpacked(source: Path) -> Path:
    """A zip unpacked once into a folder named by its hash; a folder is used as it is."""
    if source.is_dir():
        return source
    dest = SANDBOX / "unpacked" / sha256_file(source)[:20]
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
        self.conn: http.client.HTTPConnection | None = None
        self.last_used = time.monotonic()
        self.invocations = 0

    # --- lifecycle --------------------------------------------------------------------------
    def bootstrap(self) -> list[str]:
        root = root_dir(self.arch)
        cmd = ["bwrap", "--ro-bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--ro-bind", str(unpacked(self.spec.code)), "/var/task", "--chdir", "/var/task",
               "--die-with-parent", "--new-session"]
        opt = self.spec.layers[0] if self.spec.layers else None
        if opt is not None:
            cmd += ["--ro-bind", str(unpacked(opt)), "/opt"]
        prefix: list[str] = []
        if self.arch.emulator:
            emulator = shutil.which(self.arch.emulator[0])
            cmd += ["--ro-bind", emulator, f"/{EMULATOR_MOUNT}"]
            prefix = [f"/{EMULATOR_MOUNT}", *self.arch.emulator[1:]]
        return [*cmd, *prefix, "/usr/bin/python3.13", "-m", "awslambdaric", self.spec.handler]

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
        threading.Thread(target=self._read_output, daemon=True).start()
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
        if self.conn:
            self.conn.close()
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    # --- invoking ---------------------------------------------------------------------------
    def runtime_processes(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except (psutil.NoSuchProcess, AttributeError):
            return []

    def _watch_memory(self, done: threading.Event, peak: list[int], killed: list[bool]) -> None:
        """Sample the runtime's resident memory until `done`; kill it past the memory size."""
        limit = self.spec.memory_size * MiB
        while True:
            procs = self.runtime_processes()
            rss = 0
            for p in procs:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], rss)
            if rss > limit:
                killed[0] = True
                for p in procs:
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                return
            if done.wait(0.01):
                return

    def invoke(self, payload: bytes) -> Invocation:
        self.invocations += 1
        with self.cond:
            first_line = len(self.lines)
        done, peak, killed = threading.Event(), [0], [False]
        watcher = threading.Thread(target=self._watch_memory, args=(done, peak, killed), daemon=True)
        watcher.start()
        try:
            status, body = self._post(payload)
        finally:
            done.set()
            watcher.join()
            self.last_used = time.monotonic()
        lines = self._lines_of_invocation(first_line)
        request_id = next((m[1] for m in map(_START.match, lines) if m), "")
        init = next((float(m[1]) for m in map(_INIT.search, lines) if m), None)
        duration = next((float(m[1]) for m in map(_RTDONE.search, lines) if m), None)
        error, payload_out = self._classify(status, body, request_id, killed[0])
        if duration is None:  # killed or timed out: the runtime never reported a duration
            duration = self.spec.timeout * 1000.0 if b"timed out" in payload_out else 0.0
        max_mb = max(1, math.ceil(peak[0] / MiB))
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
                  f"Billed Duration: {math.ceil(duration + (init or 0))} ms\tMemory Size: {self.spec.memory_size} MB\t"
                  f"Max Memory Used: {max_mb} MB\t" + (f"Init Duration: {init:.2f} ms\t" if init is not None else ""))
        log_lines = [ln for ln in lines if not _RIE_LINE.match(ln)]
        log = "".join(log_lines) + f"END RequestId: {request_id}\n{report}\n"
        return Invocation(payload_out, error, request_id, log, duration, init, max_mb)

    def _post(self, payload: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.spec.timeout + 30)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.conn.request("POST", "/2015-03-31/functions/function/invocations", body=payload,
                                  headers={"Content-Type": "application/json"})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2 or not self.alive():
                    raise
        raise AssertionError("unreachable")

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
