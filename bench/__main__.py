"""Command line: python -m bench {compare,report,deploy,credentials}."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from layer_build.errors import BuildError
from layer_build.platforms import ARCHITECTURES

def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
