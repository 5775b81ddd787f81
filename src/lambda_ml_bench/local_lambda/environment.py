"""One execution environment's life: start (the RIE driving awslambdaric in the sandbox), invoke, stop.

The RIE runs on the host from a fixed environment; it starts the sandbox, which joins the
environment's control groups (CPU and memory as Lambda allots them) before bubblewrap isolates the
runtime. Out-of-memory is the kernel's own kill, counted by the group; Max Memory Used is the group's
peak. Where groups cannot be written, a watchdog samples resident memory instead, and the
configuration says that nothing is allotted.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

from lambda_ml_bench import lambda_facts
from lambda_ml_bench.build.platforms import ARCHITECTURES
from lambda_ml_bench.files import MiB
from lambda_ml_bench.local_lambda.codecache import unpacked
from lambda_ml_bench.local_lambda.functions import REGION, FunctionSpec
from lambda_ml_bench.sandbox import network, storage
from lambda_ml_bench.sandbox.allotment import (
    Allotment,
    Hierarchy,
    contention_line,
    join_command,
    longest_wait_ns,
    run_delays,
    share_given,
)
from lambda_ml_bench.sandbox.rie import RieClient, free_port
from lambda_ml_bench.sandbox.roots import HOST_ENV, PYTHON, root_dir, sandbox_dir, sandboxed

_PAGE = os.sysconf("SC_PAGE_SIZE")
LOG_KEEP_BYTES = 2 * MiB  # an environment's log kept in the service: its newest 2 MiB (a Tail needs 4 KB)
LOG_LINE_MAX = 64 * 1024  # a longer line is kept as pieces of this size
_START = re.compile(r"^START RequestId: (\S+)")
_INIT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
_RTDONE = re.compile(r"INVOKE RTDONE\(status: \w+, produced bytes: \d+, duration: ([\d.]+)ms\)")
_RIE_LINE = re.compile(r"^\d\d \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\)|^(END|REPORT) RequestId:")


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
    """RIE + runtime for one function version; serves one invocation at a time."""

    def __init__(self, spec: FunctionSpec, rie: Path, hierarchy: Hierarchy | None = None,
                 version: str = "$LATEST") -> None:
        self.spec, self.rie, self.version = spec, rie, version
        self.arch = ARCHITECTURES[spec.architecture]
        self.hierarchy = hierarchy
        self.allotment: Allotment | None = None
        self.id = uuid.uuid4().hex[:12]  # never the id of a leftover of an earlier service
        # its own network namespace (only loopback, Lambda's ports), unless the definition asks for the host's
        self.isolated = not spec.host_loopback
        if self.isolated:
            (_, self.port), self.runtime_api = network.RIE_ADDRESS, network.RUNTIME_API
        else:
            self.port, self.runtime_api = free_port(), f"127.0.0.1:{free_port()}"
        self.client = RieClient(self.connect, spec.timeout + 30)
        # /tmp: disk of EphemeralStorage.Size where mounts can be made, else a tmpfs of that size (counted as memory)
        self.storage = storage.EphemeralStorage(ephemeral_dir() / self.id, spec.ephemeral_storage) \
            if storage.can_mount() else None
        self.lines: deque[str] = deque()  # the newest output lines, LOG_KEEP_BYTES at most
        self._sizes: deque[int] = deque()
        self._kept = 0  # bytes in self.lines
        self._dropped = 0  # lines dropped from the front: a line's number is _dropped + its index
        self.cond = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self._netns: int | None = None  # the RIE's network namespace, held from its start (never a reused pid's)
        self.last_used = time.monotonic()
        self._pids: list[int] = []
        self._pids_at = 0.0
        self._peak, self._oom, self._last_rss = 0, False, 0
        self._busy = False
        self.broken = False  # the runtime was killed or exited: Lambda replaces such an environment

    # --- what the runtime sees ----------------------------------------------------------------
    def lambda_variables(self) -> dict[str, str]:
        """The variables Lambda sets for every function (reserved: a configuration cannot change them)."""
        s = self.spec
        return {
            "AWS_LAMBDA_FUNCTION_NAME": s.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(s.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": self.version, "AWS_LAMBDA_FUNCTION_TIMEOUT": str(s.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{s.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[{self.version}]{self.id}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EXECUTION_ENV": f"AWS_Lambda_{s.runtime}",
            "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime", "_HANDLER": s.handler,
        }

    def runtime_environment(self) -> dict[str, str]:
        """Exactly what the runtime's process gets: Lambda's variables, then the function's own. No host
        variable passes (OPENBLAS_CORETYPE among them: Lambda sets none, and under QEMU a host core type
        makes arm64 OpenBLAS fall back to its generic kernel)."""
        return {"PATH": "/usr/local/bin:/usr/bin/:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
                "PYTHONPATH": "/var/task:/opt/python:/var/runtime", **self.lambda_variables(),
                "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
                **{k: str(v) for k, v in self.spec.environment.items()}}

    def command(self) -> list[str]:
        cache = sandbox_dir() / "unpacked"
        binds = {"/var/task": unpacked(self.spec.code, cache)}
        if self.spec.layers:
            binds["/opt"] = unpacked(self.spec.layers[0], cache)
        tmp = self.storage.mount_point if self.storage else self.spec.ephemeral_storage
        inner = sandboxed(self.arch, root_dir(self.arch), [PYTHON, "-m", "awslambdaric", self.spec.handler],
                          binds, self.runtime_environment(), chdir="/var/task", tmp=tmp)
        return [str(self.rie), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
                "--runtime-api-address", self.runtime_api, *join_command(self.allotment, inner)]

    def connect(self, timeout: float | None = None) -> socket.socket:
        """A connection to this environment's RIE: made inside its network namespace when it has one."""
        if not self.isolated:
            return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        with self.cond:  # stop() closes the descriptor under the same lock: never a closed (or reused) one here
            if self._netns is None:
                raise network.NetworkError("the environment has not started, or has stopped")
            conn = network.socket_in(self._netns)
        try:
            conn.settimeout(timeout)
            conn.connect(("127.0.0.1", self.port))
        except BaseException:
            conn.close()
            raise
        return conn

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.hierarchy is not None:
            self.allotment = self.hierarchy.new(self.spec.memory_size, f"env-{self.id}")
        # /tmp is made while the RIE starts (the runtime starts with the first invoke)
        making = _Beside(self.storage.make) if self.storage is not None else None
        try:
            # The RIE reads the function's settings from its own environment; nothing of the caller's reaches it.
            self.proc = subprocess.Popen(self.command(), env={**HOST_ENV, **self.lambda_variables()},
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, cwd="/", preexec_fn=self._in_child)
        finally:
            if making is not None:
                making.join()
            if self.proc is None:
                self.stop()  # the RIE could not be started: its groups and /tmp go with the error
        if self.isolated:
            try:
                self._netns = network.namespace_of(self.proc.pid)
            except OSError:
                self.stop()
                raise
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        if self.allotment is None:
            threading.Thread(target=self._watch_memory, daemon=True).start()
        if making is not None and making.error is not None:
            self.stop()
            raise making.error
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with self.connect(timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the runtime interface emulator for {self.spec.name} did not start:\n"
                           + "".join(list(self.lines)[-20:]))

    def _in_child(self) -> None:
        """In the RIE's process before it runs: Lambda's limits, the environment's tracking group (found and ended
        by the next service if this one is killed outright) and its own network."""
        resource.setrlimit(resource.RLIMIT_NOFILE, (lambda_facts.FILE_DESCRIPTORS, lambda_facts.FILE_DESCRIPTORS))
        if self.allotment is not None:
            self.allotment.track()
        if self.isolated:
            network.isolate()

    def _read_output(self) -> None:
        """The runtime's output, line by line (a line longer than LOG_LINE_MAX in pieces), the oldest dropped once
        more than LOG_KEEP_BYTES are kept: a chatty function cannot fill the service's memory."""
        assert self.proc and self.proc.stdout
        while raw := self.proc.stdout.readline(LOG_LINE_MAX):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                self._sizes.append(len(raw))
                self._kept += len(raw)
                while self._kept > LOG_KEEP_BYTES and len(self.lines) > 1:
                    self.lines.popleft()
                    self._kept -= self._sizes.popleft()
                    self._dropped += 1
                self.cond.notify_all()

    def _since(self, first: int) -> list[str]:
        """The kept lines from line number `first` on (under self.cond)."""
        return list(itertools.islice(self.lines, max(0, first - self._dropped), None))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.broken

    def stop(self) -> None:
        """Kill the RIE and everything it started (its own process group), then remove its groups and its /tmp."""
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        if self.proc is not None:
            self._reader.join(timeout=5)
            if self.proc.stdout and not self._reader.is_alive():
                self.proc.stdout.close()
        with self.cond:
            if self._netns is not None:
                os.close(self._netns)
                self._netns = None
        if self.allotment is not None:
            self.allotment.remove()
        if self.storage is not None:
            self.storage.remove()

    # --- memory without control groups: a sampling watchdog -----------------------------------
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
        """Every 10 ms while an invocation runs, every 200 ms between them (the resident baseline)."""
        while self.alive():
            time.sleep(0.01 if self._busy else 0.2)
            self._sample()

    def _max_memory_mb(self) -> int:
        peak = self.allotment.peak_bytes() if self.allotment else self._peak
        return max(1, math.ceil(peak / MiB))

    # --- invoking ---------------------------------------------------------------------------
    def invoke(self, payload: bytes, want_log: bool = True) -> Invocation:
        """One invocation; the log and REPORT figures are collected only when `want_log`."""
        with self.cond:
            first_line = self._dropped + len(self.lines)
        self._peak, self._oom = self._last_rss, False
        kills_before = self.allotment.oom_kills() if self.allotment else 0
        self._busy = True
        watch = self.allotment is not None and want_log  # the contention line is part of the log: off the fast path
        if watch:
            (used_before, throttled_before), delays_before = self.allotment.cpu_ns(), run_delays(self._runtime_pids())
        started = time.perf_counter_ns()
        try:
            status, body = self.client.post(payload, self.alive)
        finally:
            self._busy = False
            self.last_used = time.monotonic()
        wall_ns = time.perf_counter_ns() - started
        wall_ms = wall_ns / 1e6
        given = None
        if watch:
            used, throttled = self.allotment.cpu_ns()
            self._pids_at = 0.0  # a cold start's runtime was born during the call
            waited = longest_wait_ns(delays_before, run_delays(self._runtime_pids()))
            given = share_given(wall_ns, used - used_before, waited, throttled - throttled_before,
                                self.allotment.grant.vcpus)
        oom = self._oom or (self.allotment is not None and self.allotment.oom_kills() > kills_before)
        self.broken = self.broken or oom or status >= 500
        if not (want_log or oom or status >= 500 or b'"errorType"' in body or body.startswith(b"Task timed")):
            # the fast path of a warm, successful invoke nobody asked the log of
            return Invocation(body, None, "", "", 0.0, None, self._max_memory_mb())
        lines = self._lines_of_invocation(first_line)
        request_id = next((m[1] for m in map(_START.match, lines) if m), "")
        init = next((float(m[1]) for m in map(_INIT.search, lines) if m), None)
        duration = next((float(m[1]) for m in map(_RTDONE.search, lines) if m), None)
        error, payload_out = _classify(status, body, request_id, oom)
        if duration is None:  # killed or timed out: the runtime never reported a duration
            duration = self.spec.timeout * 1000.0 if b"timed out" in payload_out else max(0.0, wall_ms - (init or 0))
        max_mb = self._max_memory_mb()
        report = lambda_facts.report(request_id, duration, self.spec.memory_size, max_mb, init)
        log_lines = [ln for ln in lines if not _RIE_LINE.match(ln)]
        if given is not None:  # figures a busy host distorted say so, where a client reads them
            log_lines.append(contention_line(given, self.allotment.grant.vcpus))
        log = "".join(log_lines) + f"END RequestId: {request_id}\n{report.line()}\n"
        return Invocation(payload_out, error, request_id, log, duration, init, max_mb)

    def _lines_of_invocation(self, first: int) -> list[str]:
        """The log lines since `first`, once the RIE has written this invocation's END line."""
        deadline = time.monotonic() + 2
        with self.cond:
            while time.monotonic() < deadline:
                lines = self._since(first)
                if any(ln.startswith("END RequestId:") for ln in lines) or not self.alive():
                    return lines
                self.cond.wait(0.05)
            return self._since(first)


def ephemeral_dir() -> Path:
    """Where this service's environments keep their /tmp (a folder per service, named after its pid, so that the
    next service finds what one killed outright left)."""
    return storage.EPHEMERAL_ROOT / f"service-{os.getpid()}"


class _Beside(threading.Thread):
    """A step run beside the caller, started at once; its exception kept for the caller to raise after join()."""

    def __init__(self, step) -> None:
        super().__init__(daemon=True)
        self.step, self.error = step, None
        self.start()

    def run(self) -> None:
        try:
            self.step()
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            self.error = err


def _classify(status: int, body: bytes, request_id: str, oom: bool) -> tuple[str | None, bytes]:
    """Turn the RIE's answer into Lambda's: function errors carry X-Amz-Function-Error."""
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
