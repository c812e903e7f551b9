"""No tracked text file carries a merge's conflict markers (they once reached the README)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<{7}|>{7}) ", re.M)


def test_no_tracked_file_has_conflict_markers():
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    bad = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".yaml", ".yml", ".toml", ".j2", ".txt", ".cfg"} and path.is_file():
            if MARKER.search(path.read_text(encoding="utf-8", errors="replace")):
                bad.append(name)
    assert bad == []
