"""The local Lambda's state file: what it cannot read back is refused whole, with what to do."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambda_ml_bench.errors import ProjectError
from lambda_ml_bench.local_lambda import state

SAVED = {"latest": {"settings": {"memory_size": 640}, "revision_id": "r", "last_modified": "t"},
         "versions": {}, "aliases": {}, "next_version": 1}


@pytest.mark.parametrize("text", [
    "{not json",
    json.dumps({"format": 99, "deleted": [], "functions": {}}),
    json.dumps({"format": state.FORMAT, "deleted": [], "functions": {"p": {**SAVED, "latest": {
        "settings": {"handler": "evil.handler"}, "revision_id": "r", "last_modified": "t"}}}}),
    json.dumps({"format": state.FORMAT, "deleted": [], "functions": {"p": {**SAVED, "next_version": "1"}}}),
    json.dumps({"format": state.FORMAT, "functions": {}}),
])
def test_a_state_file_it_did_not_write_is_refused_with_what_to_do(tmp_path: Path, text: str) -> None:
    path = tmp_path / "functions-3001.json"
    path.write_text(text)
    with pytest.raises(ProjectError, match="--fresh"):
        state.load(path)


def test_a_state_file_it_wrote_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "functions-3001.json"
    path.write_text(json.dumps({"format": state.FORMAT, "deleted": ["gone"], "functions": {"p": SAVED}}))
    assert state.load(path) == ({"p": SAVED}, {"gone"})
    assert state.load(tmp_path / "none.json") == ({}, set())
