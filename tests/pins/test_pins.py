"""The one-spine move (issue #19) must not change what any system trains to.

``pins.json`` was recorded from main before the move (see its ``recorded_at``). Each system's
short CPU run must reproduce it exactly: weights per tensor (shape, Σ, Σx²) and the logged losses.
A difference is a bug of the move unless it is shown that the old code was wrong; then re-record
(``python -m tests.pins.fingerprints > new.json``) and say why in the commit and the docs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from .fingerprints import SYSTEMS, compute

PINS = json.loads((Path(__file__).parent / "pins.json").read_text())


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_system_trains_to_its_pinned_numbers(system, tmp_path, monkeypatch):
    if not torch.__version__.startswith(PINS["torch"].split("+")[0]):
        pytest.skip(f"pins were recorded with torch {PINS['torch']}")
    monkeypatch.setenv("BETAVAE_CACHE_DIR", str(tmp_path / "cache"))
    got = json.loads(json.dumps(compute(system)))  # the same float round trip as the file
    assert got == PINS["systems"][system]
