"""python -m tfcheck [--keep DIR]      offline fmt, init, validate, plan and plan checks of terraform/
python -m tfcheck provider             the stand-in provider plugin (Terraform starts it, not users)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["provider"]:
        from tfcheck.provider import main as serve

        serve(argv)
        return 0
    parser = argparse.ArgumentParser(prog="python -m tfcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    from tfcheck.check import run_all

    return run_all(args.keep)


if __name__ == "__main__":
    sys.exit(main())
