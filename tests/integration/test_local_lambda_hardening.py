"""The local Lambda under attack and under load: isolation of function code, no way for a configuration into the
host, malformed requests answered while serving goes on, a cache safe under concurrent cold starts, nothing
left behind."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from support import REPO, free_port, local_service, probe_definition, raw_http, start_service

from lambda_ml_bench.local_lambda import codecache, functions
from lambda_ml_bench.local_lambda.service import LocalLambda

pytestmark = pytest.mark.integration


def invoke(client, name: str, event: dict) -> dict:
    return json.loads(client.invoke(FunctionName=name, Payload=json.dumps(event).encode())["Payload"].read())


# --- 1. isolation --------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_function_code_runs_unprivileged_in_namespaces_of_its_own(lambda_client, arch: str) -> None:
    host_file = str(REPO / "README.md")
    event = {"inspect": True, "read": [host_file, "/proc/1/root" + host_file, "/proc/1/environ"],
             "write": ["/var/task/x", "/opt/x", "/x", "/etc/x", "/tmp/ok", "/dev/x", "/dev/shm/x"]}
    seen = invoke(lambda_client, f"probe-{arch}", event)["inspected"]
    assert seen["cap_eff"] == "0000000000000000"
    assert (seen["uid"], seen["gid"]) == (993, 990)
    assert len(seen["pids"]) <= 4 and len(psutil.pids()) > 20  # its own processes only; the host has many
    assert seen["read"] == {host_file: False, "/proc/1/root" + host_file: False, "/proc/1/environ": True}
    assert seen["write"] == {"/var/task/x": False, "/opt/x": False, "/x": False, "/etc/x": False, "/tmp/ok": True,
                             "/dev/x": False, "/dev/shm/x": False}
    assert seen["hostname"] == "localhost"


# --- 2. environment injection ---------------------------------------------------------------------
def test_a_configurations_variables_reach_only_the_runtime(lambda_client, tmp_path: Path) -> None:
    """PATH and LD_PRELOAD set through the API change what the function sees, and nothing on the host side:
    the emulator and bubblewrap are started by absolute path from a fixed environment."""
    marker = tmp_path / "ran"
    evil = tmp_path / "bin"
    evil.mkdir()
    for tool in ("bwrap", "sh", "python3.13"):
        (evil / tool).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (evil / tool).chmod(0o755)
    before = lambda_client.get_function_configuration(FunctionName="probe-events")
    variables = {"PATH": str(evil), "LD_PRELOAD": str(tmp_path / "nothing.so"), "MY_SETTING": "on"}
    try:
        lambda_client.update_function_configuration(FunctionName="probe-events", Environment={"Variables": variables})
        environ = invoke(lambda_client, "probe-events", {})["environ"]
        assert {k: environ.get(k) for k in variables} == variables
        assert not marker.exists()
    finally:
        lambda_client.update_function_configuration(
            FunctionName="probe-events", Environment={"Variables": before.get("Environment", {}).get("Variables", {})})


@pytest.mark.parametrize("name", ["AWS_REGION", "_HANDLER", "AWS_LAMBDA_RUNTIME_API", "AWS_SECRET_ACCESS_KEY"])
def test_reserved_variables_are_refused_as_lambda_refuses_them(lambda_client, name: str) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        lambda_client.update_function_configuration(FunctionName="probe-events", Environment={"Variables": {name: "x"}})
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided contains reserved keys that are currently not supported for modification. Reserved keys used in "
        f"this request: {name}")
    assert name not in lambda_client.get_function_configuration(FunctionName="probe-events").get(
        "Environment", {}).get("Variables", {})


# --- 3. requests that used to break the service ---------------------------------------------------
@pytest.fixture(scope="module")
def front(definitions: Path, sandbox: Path):
    """An API front of its own with a one-second idle timeout (no environment is started by these tests)."""
    with local_service(functions.from_file(definitions), idle_timeout_s=1.0) as (server, _):
        yield server


def raw(server: LocalLambda, data: bytes) -> tuple[int, dict, bytes]:
    return raw_http(server.server_address, data)


def serving(server: LocalLambda) -> bool:
    host = f"127.0.0.1:{server.server_address[1]}".encode()
    status, _, body = raw(server, b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close"
                                  b"\r\n\r\n")
    return status == 200 and len(json.loads(body)["Functions"]) == len(server.functions)


@pytest.mark.parametrize("length", [b"-5", b"abc", b"+7", b"1e3"])
def test_a_content_length_that_is_not_a_length_is_400_and_serving_goes_on(front, length: bytes) -> None:
    status, headers, body = raw(front, b"POST /2015-03-31/functions/probe-x86_64/invocations HTTP/1.1\r\n"
                                       b"Content-Length: " + length + b"\r\n\r\n{}")
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert "Content-Length" in json.loads(body)["message"] and headers["connection"] == "close"
    assert serving(front)


def test_a_body_over_the_limit_is_refused_before_it_is_read(front) -> None:
    started = time.perf_counter()
    status, headers, body = raw(front, b"POST /2015-03-31/functions/probe-x86_64/invocations HTTP/1.1\r\n"
                                       b"Content-Length: 67108864\r\n\r\n")  # 64 MiB announced, none sent
    assert status == 413 and headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert json.loads(body)["message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert time.perf_counter() - started < 5
    status, _, _ = raw(front, b"PUT /2015-03-31/functions/probe-events/configuration HTTP/1.1\r\n"
                              b"Content-Length: 1000000\r\n\r\n")
    assert status == 413 and serving(front)


def test_a_chunked_body_is_read_within_the_limit(front) -> None:
    def chunked(body: bytes) -> bytes:
        return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)

    start = b"PUT /2015-03-31/functions/probe-events/configuration HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, _, body = raw(front, start + chunked(b'{"Timeout": 4}'))
    assert status == 200 and json.loads(body)["Timeout"] == 4
    status, headers, _ = raw(front, start + b"%x\r\n" % (2 << 20) + b"x" * 100)
    assert status == 413 and headers["connection"] == "close"
    status, _, _ = raw(front, start + b"zz\r\n")
    assert status == 400 and serving(front)


@pytest.mark.parametrize("body", [b'{"Environment": 5}', b'{"Environment": {"Variables": {"A": 5}}}',
                                  b'{"MemorySize": "big"}', b"[1, 2]", b"[" * 60_000])
def test_a_malformed_configuration_is_400_never_a_dropped_connection(front, body: bytes) -> None:
    request = b"PUT /2015-03-31/functions/probe-events/configuration HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s"
    status, headers, answer = raw(front, request % (len(body), body))
    assert status == 400 and headers["x-amzn-errortype"] == "InvalidRequestContentException", answer
    assert headers["x-amzn-requestid"] and serving(front)


def test_half_sent_requests_are_dropped_and_threads_stay_bounded(front) -> None:
    baseline = threading.active_count()
    sockets = []
    for _ in range(50):
        s = socket.create_connection(front.server_address)
        s.sendall(b"POST /2015-03-31/functions/probe-x86_64/invocations HTTP/1.1\r\nContent-Len")
        sockets.append(s)
    time.sleep(0.3)
    assert threading.active_count() - baseline <= 64
    assert serving(front)  # a slot is still free
    time.sleep(2.0)  # past the one-second idle timeout
    for s in sockets:
        s.settimeout(2)
        assert s.recv(100) == b""  # closed by the service
        s.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert threading.active_count() <= baseline + 2


def test_unknown_operation_and_bad_request_line_are_answered(front) -> None:
    status, headers, _ = raw(front, b"GET /2015-03-31/nothing HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"
    status, _, _ = raw(front, b"garbage\r\n\r\n")
    assert status == 400 and serving(front)


# --- 4. races and leftovers -----------------------------------------------------------------------
def _unpack_in_process(source: str, cache: str, out) -> None:
    out.put(str(codecache.unpacked(Path(source), Path(cache))))


def test_concurrent_cold_starts_of_one_zip_share_one_verified_folder(tmp_path: Path) -> None:
    source = tmp_path / "code.zip"
    with zipfile.ZipFile(source, "w") as zf:
        for i in range(3000):
            zf.writestr(f"pkg/m{i // 100}/f{i}.py", f"x = {i}\n" * 20)
    cache = tmp_path / "cache"
    results: list[str] = []
    errors: list[BaseException] = []

    def thread_unpack() -> None:
        try:
            results.append(str(codecache.unpacked(source, cache)))
        except BaseException as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    queue = multiprocessing.get_context("fork").Queue()
    procs = [
        multiprocessing.get_context("fork").Process(target=_unpack_in_process, args=(str(source), str(cache), queue))
        for _ in range(2)
    ]
    threads = [threading.Thread(target=thread_unpack) for _ in range(6)]
    for worker in [*procs, *threads]:
        worker.start()
    for worker in [*procs, *threads]:
        worker.join(timeout=120)
    results += [queue.get(timeout=5) for _ in procs]
    assert not errors and len(set(results)) == 1 and len(results) == 8
    folder = Path(results[0])
    assert sum(1 for p in folder.rglob("*.py")) == 3000
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no partial folder left


def test_a_damaged_cache_folder_is_rebuilt(tmp_path: Path) -> None:
    source = tmp_path / "code.zip"
    with zipfile.ZipFile(source, "w") as zf:
        for i in range(50):
            zf.writestr(f"f{i}.py", "pass\n")
    folder = codecache.unpacked(source, tmp_path / "cache")
    (folder / "f7.py").unlink()
    (folder / "f8.py").write_text("")
    again = codecache.unpacked(source, tmp_path / "cache")
    assert again == folder and (again / "f7.py").read_text() == "pass\n" and (again / "f8.py").read_text() == "pass\n"


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _cgroups(port: int) -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").rglob(f"lambda-ml-bench-{port}-*") if p.is_dir()]


def test_sigterm_during_an_invocation_leaves_no_process_and_no_group(sandbox: Path, tmp_path: Path) -> None:
    port = free_port()
    definition = probe_definition(tmp_path, memory_size=1769, timeout=30)
    proc = start_service(definition, port)
    request = b'POST /2015-03-31/functions/p/invocations HTTP/1.1\r\nContent-Length: 14\r\n\r\n{"sleep": 20}\n'
    busy = socket.create_connection(("127.0.0.1", port))
    busy.sendall(request)
    deadline = time.monotonic() + 30
    while not any("awslambdaric" in " ".join(p.cmdline()) for p in _descendants(proc.pid)):
        assert time.monotonic() < deadline, "the invocation never started"
        time.sleep(0.1)
    time.sleep(0.5)
    started = _descendants(proc.pid)
    assert any("bwrap" in " ".join(p.cmdline()) for p in started)
    groups = _cgroups(port)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    proc.stdout.close()
    busy.close()
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, [(p.pid, p.status(), p.cmdline()) for p in left]
    assert groups and not any(g.exists() for g in groups)


# --- 4. the API answers only its user -------------------------------------------------------------
def _request(server: LocalLambda, head: str, body: bytes = b"{}") -> tuple[int, dict, bytes]:
    return raw(server, (f"POST /2015-03-31/functions/probe-events/invocations HTTP/1.1\r\n{head}"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)


@pytest.mark.parametrize("head, status, code", [
    ("Host: rebind.attacker.example:{port}\r\n", 403, "AccessDeniedException"),  # DNS rebinding
    ("Host: 127.0.0.1:{port}\r\nOrigin: https://attacker.example\r\n", 403, "AccessDeniedException"),
    ("Host: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\n", 415, "UnsupportedMediaTypeException"),
    ("Host: localhost:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n", 415,
     "UnsupportedMediaTypeException"),
    ("Host: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary=x\r\n", 415,
     "UnsupportedMediaTypeException"),
])
def test_what_a_web_page_could_send_is_refused_before_anything_runs(front, head: str, status: int, code: str) -> None:
    """A page can POST text/plain, forms and multipart anywhere without a preflight, and with DNS rebinding its
    requests carry its own Host; none of them reaches a function, and the service goes on serving."""
    got, headers, body = _request(front, head.format(port=front.server_address[1]))
    assert (got, headers["x-amzn-errortype"]) == (status, code)
    assert "access-control-allow-origin" not in headers and serving(front)


def test_its_own_clients_are_served(front) -> None:
    for head in ("Host: 127.0.0.1:{port}\r\n", "Host: localhost:{port}\r\n", "",
                 "Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"):
        status, _, _ = raw(front, ("GET /2015-03-31/functions/ HTTP/1.1\r\n" + head.format(
            port=front.server_address[1]) + "Connection: close\r\n\r\n").encode())
        assert status == 200, head


def test_a_chatty_function_keeps_at_most_a_few_mib_of_log_in_the_service(definitions: Path, sandbox: Path) -> None:
    """Logs are bounded by bytes, not lines: 3 MB of short lines and a 1 MiB line leave at most LOG_KEEP_BYTES in
    the service, and the Tail still ends with the REPORT line."""
    import base64

    from lambda_ml_bench.local_lambda.environment import LOG_KEEP_BYTES, LOG_LINE_MAX

    specs = [s for s in functions.from_file(definitions) if s.name == "probe-x86_64"]
    with local_service(specs) as (server, client):
        for event in ({"print_lines": 200_000}, {"print_lines": 1, "sleep": 0.01, "long_line_mb": 1}):
            answer = client.invoke(FunctionName="probe-x86_64", Payload=json.dumps(event).encode(), LogType="Tail")
            assert answer["StatusCode"] == 200 and "FunctionError" not in answer
            assert "REPORT RequestId" in base64.b64decode(answer["LogResult"]).decode()
        (env,) = server.functions["probe-x86_64"].latest.every
        assert env._kept == sum(env._sizes) <= LOG_KEEP_BYTES and max(env._sizes) <= LOG_LINE_MAX
        assert env._dropped > 100_000


# --- 5. no client can stall the service ----------------------------------------------------------
def test_clients_dripping_their_heads_stall_nobody_and_are_cut_off(front) -> None:
    """70 connections that each send a byte of their head every half second hold no serving slot: other calls are
    answered meanwhile, and each dripping head is cut off HEAD_TIMEOUT_S after its first byte."""
    from lambda_ml_bench.local_lambda.service import HEAD_TIMEOUT_S

    head = b"POST /2015-03-31/functions/probe-x86_64/invocations HTTP/1.1\r\nX-Slow: " + b"a" * 100
    sockets = [socket.create_connection(front.server_address) for _ in range(70)]
    started = time.monotonic()
    cut = [None] * len(sockets)
    while time.monotonic() - started < HEAD_TIMEOUT_S + 2:
        for i, s in enumerate(sockets):
            if cut[i] is None:
                try:
                    s.sendall(head[int((time.monotonic() - started) * 2) % len(head):][:1])
                except OSError:
                    cut[i] = time.monotonic() - started
        asked = time.monotonic()
        assert serving(front) and time.monotonic() - asked < 1.0
        time.sleep(0.5)
    for i, s in enumerate(sockets):
        s.settimeout(1)
        try:
            closed = s.recv(100) == b""
        except OSError:
            closed = True
        assert cut[i] is not None or closed, f"connection {i} still open"
        s.close()


@pytest.mark.parametrize("headers", [
    b"X-Long: " + b"a" * 9000 + b"\r\n",  # one line over 8 KiB
    b"".join(b"X-%d: " % i + b"a" * 4000 + b"\r\n" for i in range(20)),  # a block over 64 KiB
    b"".join(b"X-%d: a\r\n" % i for i in range(101)),  # too many lines
])
def test_oversized_header_lines_and_blocks_are_431(front, headers: bytes) -> None:
    status, answer_headers, _ = raw(front, b"GET /2015-03-31/functions/ HTTP/1.1\r\n" + headers + b"\r\n")
    assert status == 431 and answer_headers["connection"] == "close" and serving(front)


@pytest.mark.parametrize("framing", [
    b"Content-Length: 2\r\nContent-Length: 40\r\n",
    b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
])
def test_ambiguous_framing_is_400_and_nothing_after_it_runs(front, framing: bytes) -> None:
    """Two lengths, or a length and chunked encoding, could be read two ways (request smuggling): refused, and the
    connection closed, so the bytes after the body never run as a request of their own."""
    smuggled = b"GET /2015-03-31/functions/ HTTP/1.1\r\nConnection: close\r\n\r\n"
    data = (b"POST /2015-03-31/functions/probe-events/invocations HTTP/1.1\r\n" + framing + b"\r\n{}0\r\n\r\n"
            + smuggled)
    with socket.create_connection(front.server_address, timeout=5) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400") and received.count(b"HTTP/1.1 ") == 1
    assert serving(front)


def test_descriptors_processes_and_shared_memory_are_lambdas(lambda_client) -> None:
    """Lambda's limits inside the sandbox: 1,024 file descriptors and 1,024 processes and threads (a few of each are
    the runtime's own), and no shared memory for multiprocessing's queues (on Lambda they fail too)."""
    # the 512 MB probe: a cold start of the 128 MB one (about 2 s of INIT) leaves little of its 3 s timeout
    opened = invoke(lambda_client, "probe-x86_64", {"open_files": 1100})["opened"]
    assert 1000 <= opened < 1024
    started = invoke(lambda_client, "probe-x86_64", {"threads": 1100})["threads"]
    assert 1000 <= started < 1024
    assert invoke(lambda_client, "probe-x86_64", {"mp_queue": True})["queue"] != "made"


def test_each_environment_has_a_network_of_its_own(sandbox: Path, tmp_path: Path) -> None:
    """Function code sees only its own loopback: its Runtime API's port, none of another environment's (whose in-flight
    event it could otherwise take), not the service's API, not a host service, no route out. A function whose
    definition asks for the host's loopback reaches the host service, and its Tags say so."""
    probe = str(REPO / "tests/fixtures/probe")
    definition = tmp_path / "fns.json"
    definition.write_text(json.dumps({"functions": [
        {"name": name, "handler": "app.handler", "architecture": "x86_64", "timeout": 10, "code": probe, **extra}
        for name, extra in (("a", {}), ("b", {}), ("db", {"network": "host-loopback"}))]}))
    with socket.socket() as host_service:
        host_service.bind(("127.0.0.1", 0))
        host_service.listen()
        host = ["127.0.0.1", host_service.getsockname()[1]]
        with local_service(functions.from_file(definition)) as (server, client):
            busy = threading.Thread(target=invoke, args=(client, "b", {"sleep": 4}))
            busy.start()  # b's environment is up, its runtime waiting on its Runtime API
            time.sleep(1.5)
            seen = invoke(client, "a", {"listening": True})
            assert seen == {"ports": [9001], "interfaces": ["lo"]}
            api = ["127.0.0.1", server.server_address[1]]
            reached = invoke(client, "a", {"connect": [api, host, ["127.0.0.1", 9001], ["10.255.255.1", 80]]})
            assert reached["reached"] == {f"{api[0]}:{api[1]}": "ConnectionRefusedError",
                                          f"{host[0]}:{host[1]}": "ConnectionRefusedError",
                                          "127.0.0.1:9001": "connected",  # its own Runtime API
                                          "10.255.255.1:80": "OSError"}  # no route: the network is unreachable
            assert invoke(client, "db", {"connect": [host]})["reached"] == {f"{host[0]}:{host[1]}": "connected"}
            busy.join()
            assert client.list_tags(Resource=functions.FunctionSpec.arn.fget(server.functions["db"].latest.spec))[
                "Tags"]["lambda-ml-bench:network"] == "host-loopback"
            assert client.get_function(FunctionName="a")["Tags"]["lambda-ml-bench:network"] == "isolated"


def test_a_service_killed_outright_loses_no_configuration_and_leaves_nothing(sandbox: Path, tmp_path: Path) -> None:
    """kill -9 mid-invocation: its sandboxes end with it, the next start on the port removes what the killed one left
    (its groups, its environments' /tmp), every change it answered is still there, and its first ten cold starts, all
    at once, serve."""
    import boto3

    port = free_port()
    definition = probe_definition(tmp_path, memory_size=512, timeout=30)
    proc = start_service(definition, port)
    client = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    client.update_function_configuration(FunctionName="p", MemorySize=640, Description="kept across a crash",
                                         Environment={"Variables": {"KEPT": "yes"}})
    version = client.publish_version(FunctionName="p")["Version"]
    client.create_alias(FunctionName="p", Name="live", FunctionVersion=version)
    busy = socket.create_connection(("127.0.0.1", port))
    busy.sendall(b'POST /2015-03-31/functions/p/invocations HTTP/1.1\r\nContent-Length: 14\r\n\r\n{"sleep": 20}\n')
    deadline = time.monotonic() + 30
    while not any("awslambdaric" in " ".join(p.cmdline()) for p in _descendants(proc.pid)):
        assert time.monotonic() < deadline, "the invocation never started"
        time.sleep(0.1)
    time.sleep(3)  # INIT over, the handler sleeping
    left = _descendants(proc.pid)
    old_groups = _cgroups(port)
    proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()
    busy.close()
    time.sleep(0.5)
    # its sandboxes end with it (the kernel's parent-death signal: they were started by a thread that lives as long
    # as the service); its groups and /tmp stay until the next start
    ended = time.monotonic() + 5
    while [p for p in left if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]:
        assert time.monotonic() < ended, "the killed service's sandboxes outlived it"
        time.sleep(0.1)
    assert old_groups
    again = start_service(definition, port)
    try:
        assert old_groups and not any(g.exists() for g in old_groups)
        config = client.get_function_configuration(FunctionName="p")
        assert (config["MemorySize"], config["Description"], config["Environment"]["Variables"]) == (
            640, "kept across a crash", {"KEPT": "yes"})
        assert client.get_alias(FunctionName="p", Name="live")["FunctionVersion"] == version
        assert client.get_function_configuration(FunctionName="p", Qualifier=version)["MemorySize"] == 640

        def cold(_) -> dict:
            answer = client.invoke(FunctionName="p", Qualifier="live", Payload=b'{"sleep": 1}')
            return {"error": answer.get("FunctionError"), "out": json.loads(answer["Payload"].read())}

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(cold, range(10)))
        assert all(a["error"] is None and a["out"]["environ"]["KEPT"] == "yes" for a in answers), answers
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
        again.stdout.close()
        client.close()


def test_tmp_is_ephemeral_storage_full_with_enospc_and_not_memory(sandbox: Path, tmp_path: Path) -> None:
    """/tmp is EphemeralStorage.Size of disk: 400 MB fit in a 256 MB function without an out-of-memory kill, a full
    /tmp is ENOSPC (the function keeps serving), and UpdateFunctionConfiguration resizes it as AWS does (512-10,240;
    out of range refused and nothing changed)."""
    from lambda_ml_bench.local_lambda.environment import ephemeral_dir
    from lambda_ml_bench.sandbox import storage

    assert storage.can_mount(), "the local Lambda runs as root here"
    definition = probe_definition(tmp_path, memory_size=256, timeout=60)
    with local_service(functions.from_file(definition)) as (server, client):
        fits = invoke(client, "p", {"tmp_write_mb": 400})
        assert fits["written_mb"] == 400 and fits["error"] is None and 512 <= fits["tmp_size_mb"] < 560
        full = invoke(client, "p", {"tmp_write_mb": 700})
        assert full["error"] == "No space left on device" and 512 <= full["written_mb"] < 560
        body = b'{"EphemeralStorage": {"Size": 400}}'  # boto3 checks the range itself: sent as it is
        head = (b"PUT /2015-03-31/functions/p/configuration HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        status, headers, answer = raw(server, head + body)
        assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException")
        assert json.loads(answer)["message"] == (
            "1 validation error detected: Value '400' at 'ephemeralStorage.size' failed to satisfy constraint: "
            "Member must have value greater than or equal to 512")
        assert client.get_function_configuration(FunctionName="p")["EphemeralStorage"] == {"Size": 512}
        answer = client.update_function_configuration(FunctionName="p", EphemeralStorage={"Size": 1024})
        assert answer["EphemeralStorage"] == {"Size": 1024}
        assert 1024 <= invoke(client, "p", {"tmp_write_mb": 1})["tmp_size_mb"] < 1100
    assert not list(ephemeral_dir().rglob("tmp.ext4"))  # every environment's /tmp went with it


def test_an_environment_that_cannot_start_leaves_no_group_and_no_tmp(sandbox: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime's process fails before it runs (here: it cannot enter its network): the error reaches the caller
    and the environment's groups, /tmp and network, made before it, are gone with it."""
    from lambda_ml_bench.local_lambda.environment import Environment
    from lambda_ml_bench.sandbox import network
    from lambda_ml_bench.sandbox.allotment import open_hierarchy

    def refused(self) -> None:
        raise OSError("no way into this network namespace")

    monkeypatch.setattr(network.Namespace, "enter", refused)
    hierarchy, why = open_hierarchy(f"lambda-ml-bench-failed-{os.getpid()}")
    assert hierarchy is not None, why
    env = Environment(functions.from_file(probe_definition(tmp_path))[0], hierarchy)
    try:
        with pytest.raises(subprocess.SubprocessError, match="preexec_fn"):
            env.start()
        assert not any(g.exists() for g in env.allotment.groups.values())
        assert env.storage is not None and not env.storage.folder.exists() and env.namespace.fd is None
    finally:
        hierarchy.remove()


# --- 9. INIT's own allowance ----------------------------------------------------------------------
def test_init_has_ten_seconds_of_its_own_then_is_retried_within_the_timeout(sandbox: Path, tmp_path: Path) -> None:
    """INIT is not counted in the function's timeout: a 4 s INIT before a 3 s function serves, its REPORT's Init
    Duration about 4 s and its handler's deadline the whole 3 s. An INIT that runs past Lambda's 10 s is ended and run
    again inside the first invocation's timeout: an 11 s INIT with a 14 s timeout serves after about 21 s, the retried
    INIT counted in the invocation's duration (no Init Duration), the log saying the first one timed out."""
    import base64

    from lambda_ml_bench.lambda_facts import INIT_ALLOWANCE_S, parse_report

    probe = str(REPO / "tests/fixtures/probe")
    definition = tmp_path / "fns.json"
    definition.write_text(json.dumps({"functions": [
        {"name": name, "handler": "app.handler", "architecture": "x86_64", "memory_size": 1769, "timeout": timeout,
         "code": probe, "environment": {"PROBE_INIT_SLEEP": str(init_s)}}
        for name, init_s, timeout in (("slow-init", 4, 3), ("past-allowance", INIT_ALLOWANCE_S + 1, 14))]}))
    with local_service(functions.from_file(definition)) as (_, client):
        def call(name: str) -> tuple[float, dict, str, dict]:
            started = time.monotonic()
            answer = client.invoke(FunctionName=name, Payload=b'{"n": 1}', LogType="Tail")
            log = base64.b64decode(answer["LogResult"]).decode()
            return time.monotonic() - started, answer, log, json.loads(answer["Payload"].read())

        with ThreadPoolExecutor(2) as pool:
            slow, past = pool.map(call, ["slow-init", "past-allowance"])
    wall, answer, log, out = slow
    assert "FunctionError" not in answer and out["echo"] == {"n": 1}, out
    report = parse_report(log)
    assert 4000 <= report.init_ms < 4000 + 2000 and report.duration_ms < 1000, log
    assert out["remaining_ms"] > 2500  # the whole timeout was the handler's, INIT took none of it
    wall, answer, log, out = past
    assert "FunctionError" not in answer and out["echo"] == {"n": 1}, out
    report = parse_report(log)
    assert report.init_ms is None and 11_000 <= report.duration_ms < 14_000, log
    assert "Phase: init\tStatus: timeout" in log and wall >= INIT_ALLOWANCE_S + 11


def test_a_handler_that_cannot_be_imported_and_an_answer_too_large_get_lambdas_words(lambda_client, sandbox: Path,
                                                                                    tmp_path: Path) -> None:
    """An INIT that fails is the runtime's own init error, every time (the service answers, never a 500); an answer
    over 6,291,556 bytes is Function.ResponseSizeTooLarge (test_lambda_too_large_response) and the function keeps
    serving."""
    response = lambda_client.invoke(FunctionName="probe-x86_64", Payload=json.dumps({"respond_mb": 6.5}).encode())
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}
    assert invoke(lambda_client, "probe-x86_64", {"after": "too large"})["echo"] == {"after": "too large"}
    specs = functions.from_file(probe_definition(tmp_path, handler="missing.handler"))
    with local_service(specs) as (_, client):
        for _ in range(2):
            response = client.invoke(FunctionName="p", Payload=b"{}")
            error = json.loads(response["Payload"].read())
            assert response["FunctionError"] == "Unhandled" and error["errorType"] == "Runtime.ImportModuleError"
            assert "No module named 'missing'" in error["errorMessage"]
