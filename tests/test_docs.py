"""The README is a front door and docs/ the reference: every link and every repository path they name must exist.

Documentation rots silently when files move; these checks make a move that forgets the docs fail in CI. A
backticked span counts as a repository path when its first component is a top-level entry of the repository
(``benchmarks/records/run_folder.py``, ``registry/``, ``pyproject.toml``), so names from other projects
(``src/metrics/frechet_video_distance.py``) and run-time paths (``results/quickstart/``) are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 250
MAIN_JOB = "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && sgvb grid quickstart"
TEST_COMMAND = (  # .ci/run runs this command; the README shows it verbatim
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]'"
    " && SGVB_STRICT_PLUGINS=1 python -m pytest -q"
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
PATH_LIKE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]*")


# The repository's top level as the design card fixes it: not read from the folder, where run outputs
# (``results/``, ``runs/``) and virtual environments of the user would count too.
TOP_LEVEL = frozenset(
    {
        "registry",
        "stylegan_v",
        "baselines",
        "metrics",
        "benchmarks",
        "tests",
        "docs",
        "pyproject.toml",
        "README.md",
        ".ci",
    }
)


def top_level_entries() -> set[str]:
    return set(TOP_LEVEL)


def test_the_fixed_top_level_exists():
    assert all((ROOT / name).exists() for name in TOP_LEVEL)


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped except '-' and '_', spaces to '-'."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def repository_paths(page: Path) -> list[str]:
    """Backticked spans that name a file or folder of this repository (``path`` or ``path::test``)."""
    text = FENCE.sub("", page.read_text())
    tops, found = top_level_entries(), []
    for span in CODE_SPAN.findall(text):
        path = span.split("::", 1)[0]
        if PATH_LIKE.fullmatch(path) and ("/" in path or path in tops) and path.split("/", 1)[0] in tops:
            found.append(path)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest.read_text()):
            broken.append(f"{target} (no heading '#{anchor}' in {dest.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_backticked_repository_path_exists(page):
    missing = sorted({p for p in repository_paths(page) if not (ROOT / p).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_the_path_check_sees_paths_and_leaves_foreign_names_alone(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "`benchmarks/records/run_folder.py`, `registry/`, `pyproject.toml`, `tests/test_docs.py::test_x`,\n"
        "`src/metrics/frechet_video_distance.py`, `results/quickstart/`, `metric-<name>.jsonl`, `stylegan_v`\n"
        "```\n`benchmarks/in_a_fence.py`\n```\n"
    )
    assert repository_paths(page) == [
        "benchmarks/records/run_folder.py",
        "registry/",
        "pyproject.toml",
        "tests/test_docs.py",
        "stylegan_v",
    ]


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(README)}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"docs pages not linked from README.md: {unlinked}"


def test_readme_is_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move reference material to docs/"
    assert f"    {MAIN_JOB}" in lines, "the README's main job command changed"
    assert f"    {TEST_COMMAND}" in lines, "the README's test command changed (.ci/run runs it)"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[dev]'" in ci and "\nSGVB_STRICT_PLUGINS=1 python -m pytest -q\n" in ci


def test_no_dated_remarks_outside_results():
    """Dated and "this round" remarks belong in benchmarks/speed/RESULTS.md; the README and docs say what is."""
    dated = re.compile(r"(?<![\w-])20\d\d-\d\d-\d\d\b|this round|until this version|before this round", re.I)
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in PAGES for m in dated.finditer(p.read_text())]
    assert not found, found
