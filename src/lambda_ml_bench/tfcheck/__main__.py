"""python -m lambda_ml_bench.tfcheck provider: the stand-in provider plugin that Terraform starts during
`lmb tf-check` (users run that; nobody runs this by hand)."""
from __future__ import annotations

import sys

from lambda_ml_bench.tfcheck.provider import main as serve

if __name__ == "__main__":
    if sys.argv[1:2] != ["provider"]:
        sys.exit("usage: python -m lambda_ml_bench.tfcheck provider (Terraform starts it; run `lmb tf-check`)")
    serve(sys.argv[1:])
