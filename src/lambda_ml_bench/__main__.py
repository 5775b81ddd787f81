"""python -m lambda_ml_bench: the same command line as `lmb`."""
import sys

from lambda_ml_bench.cli import main

sys.exit(main())
