"""Every relative link in a tracked Markdown file points to a file that exists, and every
``#fragment`` to a heading of the linked page (GitHub's anchors: lower case, punctuation dropped,
spaces as hyphens, ``-1``, ``-2`` … for repeated headings). Pages move and headings get renamed;
a reader who follows a dead link from the README loses the answer."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading's text: ``"Issue #23's study: 3 seeds"`` → ``"issue-23s-study-3-seeds"``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.replace("`", ""))  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    found, repeats = set(), {}
    for match in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = github_anchor(match.group(1))
        n = repeats[slug] = repeats.get(slug, -1) + 1
        found.add(f"{slug}-{n}" if n else slug)
    return frozenset(found)


def test_github_anchor_at_known_headings(tmp_path):
    assert github_anchor("Issue #23's study: 3 seeds, the listener on training rows (600 rows, measured here)") == \
        "issue-23s-study-3-seeds-the-listener-on-training-rows-600-rows-measured-here"
    assert github_anchor("The source's grid, rerun (`bvae sweep sweep_vsa_grid`)") == "the-sources-grid-rerun-bvae-sweep-sweep_vsa_grid"
    assert github_anchor("β-VAE report, Table 1") == "β-vae-report-table-1"
    page = tmp_path / "page.md"
    page.write_text("# Results\n\n```\n# not a heading\n```\n## Results\n### Results\n")
    assert anchors(page) == {"results", "results-1", "results-2"}


def test_every_relative_link_in_the_docs_resolves():
    try:
        files = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    dead = []
    for name in files:
        page = ROOT / name
        text = INLINE_CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: — not checked here
                continue
            path, _, fragment = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                dead.append(f"{name}: {target} (no such file)")
            elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
                dead.append(f"{name}: {target} (no such heading)")
    assert dead == []
