"""lmb: build the layers and the function package, run the local Lambda, measure, plan, deploy, check.

One error convention for every command: a project error (something the user can act on) prints one line
`error: ...` and exits 2; anything else is a bug and prints its traceback.
"""
from __future__ import annotations

import argparse
import sys

from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.terminal import say


def cmd_tf_check(args: argparse.Namespace) -> None:
    from lambda_ml_bench.tfcheck.check import run_all

    if run_all(args.keep) != 0:
        raise SystemExit(1)


def parser() -> argparse.ArgumentParser:
    from pathlib import Path

    from lambda_ml_bench import deploy
    from lambda_ml_bench.build import cli as build
    from lambda_ml_bench.local_lambda import cli as local
    from lambda_ml_bench.measure import cli as measure

    top = argparse.ArgumentParser(prog="lmb", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build.register(sub)
    local.register(sub)
    measure.register(sub)
    deploy.register(sub)
    p = sub.add_parser("tf-check", help="terraform fmt, init, validate and plan offline, then check the plans")
    p.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    p.set_defaults(func=cmd_tf_check)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if prepare := getattr(args, "prepare", None):
            prepare(args)
        args.func(args)
    except ProjectError as err:
        say(f"error: {err}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
