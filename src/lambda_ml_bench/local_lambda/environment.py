"""One execution environment's life: start (INIT of awslambdaric in the sandbox), invoke, stop.

The service is Lambda's side of the environment: it serves the Runtime API the runtime pulls events from
(runtime_api.py), on a socket in the environment's own network namespace. INIT starts with the environment and is
timed apart from the invocations; it gets Lambda's ten seconds of its own (ten times that under emulation, where
imports take about ten times as long), and when it runs past them it is retried within the first invocation's
timeout, as Lambda retries it. The runtime joins the environment's control groups (CPU and memory as Lambda allots
them) before it executes; bubblewrap isolates it. Out-of-memory is the kernel's own kill, counted by the group; Max
Memory Used is the group's peak. Where groups cannot be written, a watchdog samples resident memory instead, and
the configuration says that nothing is allotted.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import resource
import signal
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
from lambda_ml_bench.local_lambda import api
from lambda_ml_bench.local_lambda.codecache import unpacked
from lambda_ml_bench.local_lambda.functions import REGION, FunctionSpec
from lambda_ml_bench.local_lambda.runtime_api import Event, Outcome, RuntimeApi
from lambda_ml_bench.sandbox import network, storage
from lambda_ml_bench.sandbox.allotment import (
    Allotment,
    Hierarchy,
    contention_line,
    longest_wait_ns,
    run_delays,
    share_given,
)
from lambda_ml_bench.sandbox.roots import HOST_ENV, PYTHON, root_dir, sandbox_dir, sandboxed, start_sandbox

_PAGE = os.sysconf("SC_PAGE_SIZE")
LOG_KEEP_BYTES = 2 * MiB  # an environment's log kept in the service: its newest 2 MiB (a Tail needs 4 KB)
LOG_LINE_MAX = 64 * 1024  # a longer line is kept as pieces of this size


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
    """The runtime of one function version in its sandbox; serves one invocation at a time."""

    def __init__(self, spec: FunctionSpec, hierarchy: Hierarchy | None = None, version: str = "$LATEST") -> None:
        self.spec, self.version = spec, version
        self.arch = ARCHITECTURES[spec.architecture]
        self.hierarchy = hierarchy
        self.allotment: Allotment | None = None
        self.id = uuid.uuid4().hex[:12]  # never the id of a leftover of an earlier service
        # its own network namespace (only loopback, Lambda's address), unless the definition asks for the host's
        self.isolated = not spec.host_loopback
        self.namespace: network.Namespace | None = None
        self.api: RuntimeApi | None = None
        self.runtime_api = "{}:{}".format(*network.RUNTIME_API)
        # INIT's own allowance: Lambda's, times how much longer imports take here (emulated arm64)
        self.init_allowance_s = lambda_facts.INIT_ALLOWANCE_S * self.arch.slowdown
        # /tmp: disk of EphemeralStorage.Size where mounts can be made, else a tmpfs of that size (counted as memory)
        self.storage = storage.EphemeralStorage(ephemeral_dir() / self.id, spec.ephemeral_storage) \
            if storage.can_mount() else None
        self.lines: deque[str] = deque()  # the newest output lines, LOG_KEEP_BYTES at most
        self._sizes: deque[int] = deque()
        self._kept = 0  # bytes in self.lines
        self._dropped = 0  # lines dropped from the front: a line's number is _dropped + its index
        self.cond = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self._log_w: int | None = None  # the write end of the runtime's output: the service's marks go in order
        self._reader: threading.Thread | None = None
        self._spawned_ns = 0
        self._initialised = False
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
                "PYTHONPATH": "/var/task:/opt/python:/var/runtime", "LD_LIBRARY_PATH": lambda_facts.LIBRARY_PATH,
                **self.lambda_variables(),
                "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
                **{k: str(v) for k, v in self.spec.environment.items()}}

    def command(self) -> list[str]:
        cache = sandbox_dir() / "unpacked"
        binds = {"/var/task": unpacked(self.spec.code, cache)}
        if self.spec.layers:
            binds["/opt"] = unpacked(self.spec.layers[0], cache)
        tmp = self.storage.mount_point if self.storage else self.spec.ephemeral_storage
        return sandboxed(self.arch, root_dir(self.arch), [PYTHON, "-m", "awslambdaric", self.spec.handler],
                         binds, self.runtime_environment(), chdir="/var/task", tmp=tmp)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Groups, /tmp, the network and its Runtime API, then the runtime: INIT begins (invoke waits for it)."""
        try:
            if self.hierarchy is not None:
                self.allotment = self.hierarchy.new(self.spec.memory_size, f"env-{self.id}")
            making = _Beside(self.storage.make) if self.storage is not None else None  # while the network is made
            try:
                if self.isolated:
                    self.namespace = network.Namespace()
                    listener = self.namespace.listener
                else:
                    listener = network.listener(("127.0.0.1", 0))
                    self.runtime_api = f"127.0.0.1:{listener.getsockname()[1]}"
                self.api = RuntimeApi(listener)
            finally:
                if making is not None:
                    making.join()
            if making is not None and making.error is not None:
                raise making.error
            read, self._log_w = os.pipe()
            self._reader = threading.Thread(target=self._read_output, args=(read,), daemon=True)
            self._reader.start()
            self._spawn()
        except BaseException:
            self.stop()  # nothing of a start that failed is left: groups, /tmp, namespace
            raise
        if self.allotment is None:
            threading.Thread(target=self._watch_memory, daemon=True).start()

    def _spawn(self) -> None:
        """The runtime's process (INIT starts): in the environment's groups and network, Lambda's limits."""
        self.api.reset()
        self._spawned_ns = time.perf_counter_ns()
        self.proc = start_sandbox(self.command(), env=HOST_ENV, stdout=self._log_w, stderr=self._log_w,
                              stdin=subprocess.DEVNULL, start_new_session=True, cwd="/", preexec_fn=self._in_child)
        self._pids_at = 0.0

    def _in_child(self) -> None:
        """In the runtime's process before it executes: Lambda's limits, the environment's groups, its network."""
        resource.setrlimit(resource.RLIMIT_NOFILE, (lambda_facts.FILE_DESCRIPTORS, lambda_facts.FILE_DESCRIPTORS))
        if self.namespace is not None:
            self.namespace.enter()
        if self.allotment is not None:  # last: the service's own work in the child is not the function's
            self.allotment.join()

    def _kill_runtime(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def _read_output(self, fd: int) -> None:
        """The runtime's output, line by line (a line longer than LOG_LINE_MAX in pieces), the oldest dropped once
        more than LOG_KEEP_BYTES are kept: a chatty function cannot fill the service's memory."""
        with open(fd, "rb", buffering=1 << 16) as stream:
            while raw := stream.readline(LOG_LINE_MAX):
                with self.cond:
                    self.lines.append(raw.decode("utf-8", "replace"))
                    self._sizes.append(len(raw))
                    self._kept += len(raw)
                    while self._kept > LOG_KEEP_BYTES and len(self.lines) > 1:
                        self.lines.popleft()
                        self._kept -= self._sizes.popleft()
                        self._dropped += 1
                    self.cond.notify_all()

    def _mark(self, line: str) -> None:
        """A line of the service's own in the log, after everything the runtime wrote before it."""
        os.write(self._log_w, line.encode() + b"\n")

    def _since(self, first: int) -> list[str]:
        """The kept lines from line number `first` on (under self.cond)."""
        return list(itertools.islice(self.lines, max(0, first - self._dropped), None))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.broken

    def stop(self) -> None:
        """Kill the runtime and everything it started, then remove its groups, its /tmp and its network."""
        self._kill_runtime()
        if self.api is not None:
            self.api.close()
        if self._log_w is not None:
            os.close(self._log_w)  # the reader ends once the runtime's copies are gone too
            self._log_w = None
            if self._reader is not None:
                self._reader.join(timeout=5)
        if self.namespace is not None:
            self.namespace.close()
        if self.allotment is not None:
            self.allotment.remove()
        if self.storage is not None:
            self.storage.remove()

    # --- memory without control groups: a sampling watchdog -----------------------------------
    def _runtime_pids(self) -> list[int]:
        """The runtime's processes (everything under its sandbox), looked up at most every 200 ms."""
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
        """One invocation (after INIT, on a cold start); the log and REPORT figures are collected only when
        `want_log` or when it failed."""
        request_id = str(uuid.uuid4())
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
            outcome, init_ms, since_ns = self._run(request_id, payload)
        finally:
            self._busy = False
            self.last_used = time.monotonic()
        wall_ns = time.perf_counter_ns() - started
        given = None
        if watch:
            used, throttled = self.allotment.cpu_ns()
            self._pids_at = 0.0  # a cold start's runtime was born during the call
            waited = longest_wait_ns(delays_before, run_delays(self._runtime_pids()))
            given = share_given(wall_ns, used - used_before, waited, throttled - throttled_before,
                                self.allotment.grant.vcpus)
        oom = self._oom or (self.allotment is not None and self.allotment.oom_kills() > kills_before)
        if outcome.kind in ("exited", "timeout", "init-error", "too-large") or oom:
            # Lambda replaces the environment: the next call is a cold start (a runtime whose answer was refused as
            # too large exits: awslambdaric raises when it cannot post)
            self.broken = True
            self._kill_runtime()
        error, body = self._answer(outcome, request_id, oom)
        if outcome.kind == "timeout":
            duration = self.spec.timeout * 1000.0
        else:
            duration = max(0.0, (outcome.done_ns - (since_ns or outcome.delivered_ns or outcome.done_ns)) / 1e6)
        self._mark(f"END RequestId: {request_id}")
        if not (want_log or error):  # the fast path of a successful invoke nobody asked the log of
            return Invocation(body, None, request_id, "", duration, init_ms, self._max_memory_mb())
        max_mb = self._max_memory_mb()
        report = lambda_facts.report(request_id, duration, self.spec.memory_size, max_mb, init_ms)
        lines = self._lines_of_invocation(first_line, request_id)
        if given is not None:  # figures a busy host distorted say so, where a client reads them
            lines.append(contention_line(given, self.allotment.grant.vcpus))
        log = "".join(lines) + f"END RequestId: {request_id}\n{report.line()}\n"
        return Invocation(body, error, request_id, log, duration, init_ms, max_mb)

    def _run(self, request_id: str, payload: bytes) -> tuple[Outcome, float | None, int | None]:
        """INIT (when this is the first invocation), then the invocation: its outcome, INIT's duration when it ran
        apart, and when the invocation's own time began if INIT was retried inside it."""
        init_ms, since_ns, began = None, None, time.monotonic()
        if not self._initialised:
            state = self.api.wait_ready(time.monotonic() + max(0.0, self.init_allowance_s - self._age_s()),
                                        self.alive)
            if state == "timeout":  # Lambda retries INIT once, within the first invocation's timeout
                self._mark(f"INIT_REPORT Init Duration: {self._age_s() * 1000:.2f} ms\tPhase: init\tStatus: timeout")
                self._kill_runtime()
                self._spawn()
                since_ns, began = self._spawned_ns, time.monotonic()
                state = self.api.wait_ready(began + self.spec.timeout, self.alive)
            if state == "init-error":
                return Outcome("init-error", self.api.init_error, done_ns=time.perf_counter_ns()), None, None
            if state != "ready":
                return Outcome(state, done_ns=time.perf_counter_ns()), None, since_ns
            self._initialised = True
            if since_ns is None:  # INIT ran apart: the invocation's own time begins now
                init_ms, began = (self.api.ready_ns - self._spawned_ns) / 1e6, time.monotonic()
        deadline = began + self.spec.timeout
        self._mark(f"START RequestId: {request_id} Version: {self.version}")
        event = Event(request_id, payload, int((time.time() + deadline - time.monotonic()) * 1000),
                      api.function_arn(self.spec.name, None if self.version == api.LATEST else self.version),
                      f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0")
        return self.api.invoke(event, deadline, self.alive), init_ms, since_ns

    def _age_s(self) -> float:
        return (time.perf_counter_ns() - self._spawned_ns) / 1e9

    def _answer(self, outcome: Outcome, request_id: str, oom: bool) -> tuple[str | None, bytes]:
        """Lambda's answer for an outcome: the function's response, or an error document with Unhandled."""
        def error(kind: str, message: str) -> tuple[str, bytes]:
            return "Unhandled", json.dumps({"errorType": kind, "errorMessage": message}).encode()

        if oom:
            return error("Runtime.OutOfMemory", f"RequestId: {request_id} Error: Runtime exited with error: "
                                                "signal: killed")
        if outcome.kind == "response":
            return None, outcome.body
        if outcome.kind in ("error", "init-error"):
            return "Unhandled", outcome.body
        if outcome.kind == "too-large":  # test_lambda_too_large_response
            return error("Function.ResponseSizeTooLarge", "Response payload size exceeded maximum allowed payload "
                                                          f"size ({lambda_facts.RESPONSE_BYTES} bytes).")
        if outcome.kind == "timeout":  # test_lambda_invoke_timed_out: "Task timed out after 1.00 seconds"
            return error("Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out after "
                                             f"{self.spec.timeout:.2f} seconds")
        # the runtime exited: test_lambda_handler_exit (status 0) and test_lambda_runtime_wrapper_not_found
        return error("Runtime.ExitError", f"RequestId: {request_id} Error: " + _exit_reason(self.proc))

    def _lines_of_invocation(self, first: int, request_id: str) -> list[str]:
        """The log lines since `first` up to this invocation's END mark (the runtime's output before it)."""
        end = f"END RequestId: {request_id}\n"
        deadline = time.monotonic() + 2
        with self.cond:
            while True:
                lines = self._since(first)
                for i, line in enumerate(lines):
                    if line.endswith(end):  # the runtime's last line may have had no newline of its own
                        head = line[:-len(end)]
                        return lines[:i] + ([head + "\n"] if head else [])
                if time.monotonic() > deadline:
                    return lines
                self.cond.wait(0.05)


def _exit_reason(proc: subprocess.Popen | None) -> str:
    """How Lambda says a runtime ended (Go's words for an exit status or a signal)."""
    code = None if proc is None else proc.poll()
    if code == 0:
        return "Runtime exited without providing a reason"
    if code is not None and code < 0:
        return f"Runtime exited with error: signal: {signal.strsignal(-code).lower()}"
    if code is not None and code > 128:  # bubblewrap passes on a signal's death as 128 + its number
        return f"Runtime exited with error: signal: {signal.strsignal(code - 128).lower()}"
    return f"Runtime exited with error: exit status {code}"


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
