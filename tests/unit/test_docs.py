"""The README and docs/ hold together: every relative link and anchor resolves, and each Terraform module's README
lists exactly the inputs and outputs its .tf files declare."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import tfschema
from support import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "terraform").rglob("README.md"))]
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text())
    return {slug(m[1]) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text())
    return [a or b for a, b in _LINK.findall(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    for target in links(page):
        if re.match(r"^[a-z]+:", target):
            continue  # a web address: not checked offline
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(REPO)}: {target} does not exist"
        if anchor:
            assert resolved.suffix == ".md" and anchor in anchors(resolved), (
                f"{page.relative_to(REPO)}: no heading #{anchor} in {resolved.relative_to(REPO)}")


def test_the_readme_is_short_and_links_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    linked = {(REPO / t.partition("#")[0]).resolve() for t in links(REPO / "README.md") if t.startswith("docs/")}
    assert {p.resolve() for p in (REPO / "docs").glob("*.md")} <= linked


def test_the_link_check_finds_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A page\n\nSee [b](b.md#missing) and [here](#a-page).\n")
    (tmp_path / "b.md").write_text("# B\n")
    assert links(tmp_path / "a.md") == ["b.md#missing", "#a-page"]
    assert "missing" not in anchors(tmp_path / "b.md") and "a-page" in anchors(tmp_path / "a.md")


def _table_names(readme: Path, first_column: str) -> set[str]:
    """The backticked names in the first column of the table whose header starts with `first_column`."""
    names, inside = set(), False
    for line in readme.read_text().splitlines():
        if line.startswith(f"| {first_column} |"):
            inside = True
            continue
        if inside and not line.startswith("|"):
            inside = False
        if inside and not line.startswith("|---"):
            names |= set(re.findall(r"`([a-z0-9_]+)`", line.split("|")[1]))
    return names


MODULES = [REPO / "terraform", *sorted((REPO / "terraform" / "modules").iterdir())]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_each_module_readme_lists_exactly_its_inputs_and_outputs(module: Path) -> None:
    declared = {kind: {name for entry in tfschema.parse(module / f"{kind}s.tf").get(kind, []) for name in entry}
                for kind in ("variable", "output")}
    assert _table_names(module / "README.md", "input") == declared["variable"]
    assert _table_names(module / "README.md", "output") == declared["output"]
