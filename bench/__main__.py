"""Command line: python -m bench {sandbox,local}."""
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
                "--concurrency", str(args.concurrency), "--idle-seconds", str(args.idle_seconds),
                "--memory-quota", str(args.memory_quota)]
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
    server = LocalLambda(args.port, specs, rie, concurrency=args.concurrency, idle_seconds=args.idle_seconds,
                         memory_quota=args.memory_quota)
    signal.signal(signal.SIGTERM, _terminate)
    say(f"local Lambda serving {len(specs)} functions at {server.endpoint}:")
    for s in specs:
        say(f"  {s.name}  ({s.architecture}, {s.memory_size} MB, {s.timeout} s, {s.handler})")
    print(server.endpoint, flush=True)
    try:
        server.serve_forever()
    finally:
        for pool in server.pools.values():
            pool.stop()


def _terminate(*_) -> None:
    """SIGTERM: leave serve_forever through SystemExit; a second signal must not cut the cleanup short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(0)


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


def _lambda_client(args: argparse.Namespace, region: str | None = None):
    """boto3 against AWS, an endpoint (--endpoint-url or AWS_ENDPOINT_URL), or LocalStack."""
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1}, read_timeout=960, connect_timeout=10)
    if args.localstack:
        import localstack_client.session

        return localstack_client.session.Session().client("lambda", config=config)
    import boto3

    if args.endpoint_url:
        region = region or os.environ.get("AWS_REGION", "us-east-1")
        return boto3.client("lambda", endpoint_url=args.endpoint_url, region_name=region, aws_access_key_id="local",
                            aws_secret_access_key="local", config=config)
    return boto3.client("lambda", region_name=region, config=config)


def cmd_compare(args: argparse.Namespace) -> None:
    from bench.compare import Driver, region_of, targets_from_listing, targets_from_terraform, terraform_targets
    from bench.report import render

    if args.endpoint_url or args.localstack or os.environ.get("AWS_ENDPOINT_URL"):
        client = _lambda_client(args, args.region)
        targets = targets_from_listing(client, args.pattern)
    else:  # the region the functions were deployed in, from Terraform, unless --region says otherwise
        outputs = terraform_targets(Path(args.terraform_dir))
        region = args.region or region_of(outputs)
        say(f"functions in {region}")
        client = _lambda_client(args, region)
        targets = targets_from_terraform(outputs)
    targets = {a: n for a, n in targets.items() if a in (args.arch or list(ARCHITECTURES))}
    out = Path(args.out or f"results/compare-{time.strftime('%Y%m%dT%H%M%S')}.jsonl")
    say(f"comparing {targets}; results go to {out} as they arrive")
    driver = Driver(client, out, say)
    try:
        driver.run(targets, args.features, args.memory, args.cycles, args.warm)
    finally:
        if driver.retries:
            say(f"retried calls: {driver.retries}")
    report = render(out, out.parent)
    say(f"report: {report} and {report.with_suffix('.png')}")


def cmd_report(args: argparse.Namespace) -> None:
    from bench.report import render

    path = render(Path(args.result), Path(args.out_dir) if args.out_dir else Path(args.result).parent)
    print(path.read_text())


def cmd_credentials(args: argparse.Namespace) -> None:
    """Stop before Terraform when no AWS credentials can be found (no network call is made)."""
    import boto3

    if boto3.Session().get_credentials() is None:
        raise BuildError("no AWS credentials found: set AWS_PROFILE (after `aws configure` or `aws sso login`) "
                         "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then run `make deploy` again")
    say("AWS credentials found")


def cmd_deploy(args: argparse.Namespace) -> None:
    from bench.account import apply

    cmd_credentials(args)
    if apply(Path(args.terraform_dir), *args.terraform_args) != 0:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sandbox", help="prepare the execution environments' roots (both architectures)")
    p.add_argument("--arch", action="append", choices=list(ARCHITECTURES))
    p.set_defaults(func=cmd_sandbox)
    p = sub.add_parser("compare", help="run the study on deployed functions (or an endpoint) and report")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                   help="a Lambda API endpoint (the local Lambda: http://127.0.0.1:3001)")
    p.add_argument("--localstack", action="store_true", help="target LocalStack through localstack-client")
    p.add_argument("--terraform-dir", default="terraform", help="where `terraform output` names the functions")
    p.add_argument("--pattern", default="benchmark", help="with an endpoint: functions whose name contains this")
    p.add_argument("--region", help="default: the functions' region from `terraform output` (an endpoint: "
                   "AWS_REGION, else us-east-1)")
    p.add_argument("--arch", action="append", choices=list(ARCHITECTURES))
    p.add_argument("--features", type=int, nargs="+", default=[10, 100, 1000, 10000])
    p.add_argument("--memory", type=int, nargs="+", help="memory sizes (MB) to sweep; default: as deployed")
    p.add_argument("--cycles", type=int, default=40, help="cycles per invocation (the study's 40)")
    p.add_argument("--warm", type=int, default=3, help="warm invocations after each forced cold start")
    p.add_argument("--out", help="result file (JSONL), default results/compare-<time>.jsonl")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("report", help="render the Markdown table and PNG chart of a result file")
    p.add_argument("result", help="results/*.json (pytest-benchmark) or results/*.jsonl (bench compare)")
    p.add_argument("--out-dir", help="default: beside the result file")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("deploy", help="terraform init and apply (interactive); a quota refusal ends in one line")
    p.add_argument("--terraform-dir", default="terraform")
    p.add_argument("terraform_args", nargs="*", help="passed to terraform apply (after --)")
    p.set_defaults(func=cmd_deploy)
    p = sub.add_parser("credentials", help="check that AWS credentials are configured (before deploying)")
    p.set_defaults(func=cmd_credentials)
    local = sub.add_parser("local", help="the local Lambda service").add_subparsers(dest="action", required=True)
    p = local.add_parser("up", help="serve the Lambda API on 127.0.0.1 (foreground unless --detach)")
    p.add_argument("--port", type=int, default=3001)
    p.add_argument("--functions", help="definition file (default: terraform/functions.json)")
    p.add_argument("--concurrency", type=int, default=2, help="environments per function (default 2)")
    p.add_argument("--idle-seconds", type=float, default=600, help="retire environments idle this long")
    p.add_argument("--memory-quota", type=int, default=10_240,
                   help="the account's memory limit in MB, refused beyond as AWS refuses it (a new account: 3008)")
    p.add_argument("--detach", action="store_true", help="run in the background; `local down` stops it")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=cmd_up)
    p = local.add_parser("down", help="stop a detached local Lambda and every process it started")
    p.set_defaults(func=cmd_down)
    args = parser.parse_args(argv)
    from bench.compare import CompareError

    try:
        args.func(args)
    except (BuildError, ValueError, CompareError) as err:
        say(f"error: {err}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
