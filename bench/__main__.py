"""Command line: python -m bench {sandbox,local}."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from layer_build.build import DIST
from layer_build.errors import BuildError
from layer_build.platforms import ARCHITECTURES

STATE = DIST / "local"
PIDFILE, LOGFILE = STATE / "service.pid", STATE / "service.log"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_sandbox(args: argparse.Namespace) -> None:
    from bench.local.sandbox import prepare_all

    prepare_all(args.arch or list(ARCHITECTURES), say)


def _specs(args: argparse.Namespace):
    from bench.local import functions

    specs = functions.from_file(Path(args.functions)) if args.functions else functions.from_terraform()
    functions.validate(specs)
    return specs


def _ready(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/2015-03-31/functions/", timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def cmd_up(args: argparse.Namespace) -> None:
    from bench.local.sandbox import prepare, rie_binary
    from bench.local.service import LocalLambda

    specs = _specs(args)
    if args.detach:
        STATE.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "bench", "local", "up", "--port", str(args.port),
                "--concurrency", str(args.concurrency), "--idle-seconds", str(args.idle_seconds)]
        if args.functions:
            argv += ["--functions", str(Path(args.functions).resolve())]
        with open(LOGFILE, "ab") as logfile:
            proc = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=Path(__file__).resolve().parent.parent)
        PIDFILE.write_text(str(proc.pid))
        if not _ready(args.port, 600):
            raise BuildError(f"the local Lambda did not come up; see {LOGFILE}")
        print(f"http://127.0.0.1:{args.port}")
        return
    rie = rie_binary(say)
    for arch in sorted({s.architecture for s in specs}):
        prepare(ARCHITECTURES[arch], say)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    server = LocalLambda(args.port, specs, rie, concurrency=args.concurrency, idle_seconds=args.idle_seconds)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    say(f"local Lambda serving {len(specs)} functions at {server.endpoint}:")
    for s in specs:
        say(f"  {s.name}  ({s.architecture}, {s.memory_size} MB, {s.timeout} s, {s.handler})")
    print(server.endpoint, flush=True)
    try:
        server.serve_forever()
    finally:
        for pool in server.pools.values():
            pool.stop()


def cmd_down(args: argparse.Namespace) -> None:
    if not PIDFILE.exists():
        say("the local Lambda is not running")
        return
    pid = int(PIDFILE.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            os.killpg(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PIDFILE.unlink(missing_ok=True)
    say("the local Lambda is stopped")


def cmd_credentials(args: argparse.Namespace) -> None:
    """Stop before Terraform when no AWS credentials can be found (no network call is made)."""
    import boto3

    if boto3.Session().get_credentials() is None:
        raise BuildError("no AWS credentials found: set AWS_PROFILE (after `aws configure` or `aws sso login`) "
                         "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then run `make deploy` again")
    say("AWS credentials found")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sandbox", help="prepare the execution environments' roots (both architectures)")
    p.add_argument("--arch", action="append", choices=list(ARCHITECTURES))
    p.set_defaults(func=cmd_sandbox)
    p = sub.add_parser("credentials", help="check that AWS credentials are configured (before deploying)")
    p.set_defaults(func=cmd_credentials)
    local = sub.add_parser("local", help="the local Lambda service").add_subparsers(dest="action", required=True)
    p = local.add_parser("up", help="serve the Lambda API on 127.0.0.1 (foreground unless --detach)")
    p.add_argument("--port", type=int, default=3001)
    p.add_argument("--functions", help="definition file (default: terraform/functions.json)")
    p.add_argument("--concurrency", type=int, default=2, help="environments per function (default 2)")
    p.add_argument("--idle-seconds", type=float, default=600, help="retire environments idle this long")
    p.add_argument("--detach", action="store_true", help="run in the background; `local down` stops it")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=cmd_up)
    p = local.add_parser("down", help="stop a detached local Lambda and every process it started")
    p.set_defaults(func=cmd_down)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (BuildError, ValueError) as err:
        say(f"error: {err}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
