"""lmb sandbox | local up | local down: the local Lambda's commands."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lambda_ml_bench.build.platforms import ARCHITECTURES
from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.lambda_facts import MEMORY_MB
from lambda_ml_bench.paths import DIST, REPO
from lambda_ml_bench.terminal import say

DEFAULT_STATE = DIST / "local"  # what the API configured (per port), and a detached service's pid and log


class StartError(ProjectError):
    """The service did not come up."""


def cmd_sandbox(args: argparse.Namespace) -> None:
    from lambda_ml_bench.sandbox.roots import prepare_all

    prepare_all(args.arch or list(ARCHITECTURES), say)


def _specs(args: argparse.Namespace):
    from lambda_ml_bench.local_lambda import functions

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
    from lambda_ml_bench.local_lambda.service import LocalLambda
    from lambda_ml_bench.sandbox.roots import prepare

    specs = _specs(args)
    if args.detach:
        state = Path(args.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "lambda_ml_bench", "local", "up", "--port", str(args.port),
                "--idle-seconds", str(args.idle_seconds),
                "--memory-quota", str(args.memory_quota), "--state-dir", str(state.resolve())] + \
            ([] if args.allot else ["--no-allot"]) + (["--fresh"] if args.fresh else []) + \
            (["--concurrency", str(args.concurrency)] if args.concurrency else [])
        if args.functions:
            argv += ["--functions", str(Path(args.functions).resolve())]
        with open(state / "service.log", "ab") as logfile:
            proc = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=REPO)
        (state / "service.pid").write_text(str(proc.pid))
        if not _ready(args.port, 600):
            raise StartError(f"the local Lambda did not come up; see {state / 'service.log'}")
        print(f"http://127.0.0.1:{args.port}")
        return
    for arch in sorted({s.architecture for s in specs}):
        prepare(ARCHITECTURES[arch], say)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    from lambda_ml_bench.local_lambda.state import state_file

    kept = state_file(Path(args.state_dir), args.port)
    if args.fresh:
        kept.unlink(missing_ok=True)
    server = LocalLambda(args.port, specs, concurrency=args.concurrency, idle_seconds=args.idle_seconds,
                         memory_quota=args.memory_quota, allot=args.allot, state_path=kept)
    signal.signal(signal.SIGTERM, _terminate)
    say(f"local Lambda serving {len(specs)} functions at {server.endpoint} ({server.allotment_note}; the account's "
        f"concurrent executions: {server.account.limit}):")
    for s in specs:
        say(f"  {s.name}  ({s.architecture}, {s.memory_size} MB, {s.timeout} s, {s.handler})")
    print(server.endpoint, flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop_environments()


def _terminate(*_) -> None:
    """SIGTERM: leave serve_forever through SystemExit; a second signal must not cut the cleanup short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(0)


def cmd_down(args: argparse.Namespace) -> None:
    pidfile = Path(args.state_dir) / "service.pid"
    if not pidfile.exists():
        say("the local Lambda is not running")
        return
    pid = int(pidfile.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            os.killpg(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)
    say("the local Lambda is stopped")


def register(sub) -> None:
    """Add the local Lambda's commands to the command line."""
    p = sub.add_parser("sandbox", help="prepare the execution environments' roots (both architectures) and the RIE")
    p.add_argument("--arch", action="append", choices=list(ARCHITECTURES))
    p.set_defaults(func=cmd_sandbox)
    local = sub.add_parser("local", help="the local Lambda: `up` serves Lambda's API on 127.0.0.1, `down` stops it")
    verbs = local.add_subparsers(dest="verb", required=True, metavar="{up,down}")
    p = verbs.add_parser("up", help="serve the Lambda API on 127.0.0.1 (foreground unless --detach)")
    p.add_argument("--port", type=int, default=3001)
    p.add_argument("--functions", help="definition file (default: terraform/functions.json)")
    p.add_argument("--concurrency", type=int, help="the account's concurrent executions, shared by every function "
                   "(default: Lambda's 1,000, or fewer if this machine's memory holds fewer 128 MB environments)")
    p.add_argument("--idle-seconds", type=float, default=600, help="retire environments idle this long")
    p.add_argument("--memory-quota", type=int, default=MEMORY_MB[1],
                   help="the account's memory limit in MB, refused beyond as AWS refuses it (a new account: 3008)")
    p.add_argument("--no-allot", dest="allot", action="store_false",
                   help="give environments the whole machine (no control groups); the configuration says so")
    p.add_argument("--detach", action="store_true", help="run in the background; `down` stops it")
    p.add_argument("--state-dir", default=str(DEFAULT_STATE),
                   help="where the configuration made through the API is kept across restarts (per port), and a "
                        "detached service's pid and log")
    p.add_argument("--fresh", action="store_true",
                   help="forget what was configured through the API: start from the definitions")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=cmd_up)
    p = verbs.add_parser("down", help="stop a detached local Lambda and every process it started")
    p.add_argument("--state-dir", default=str(DEFAULT_STATE))
    p.set_defaults(func=cmd_down)
