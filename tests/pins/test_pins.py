"""The one-spine move (issue #19) must not change what any system trains to.

``pins.json`` was recorded from main before the move (see its ``recorded_at``). Each system's
short CPU run must reproduce it exactly on a CPU of the recording machine's vendor (its
``cpu_vendor``): weights per tensor (shape, Σ, Σx²) and the logged losses. A difference is a bug of
the move unless it is shown that the old code was wrong; then re-record (``python -m
tests.pins.fingerprints > new.json``) and say why in the commit and the docs.

On another vendor's CPU the math libraries take other kernels (oneMKL dispatches on the vendor),
so float sums round differently: there every number must agree to ``isclose(rel_tol=1e-3,
abs_tol=1e-5)``. Measured on an Intel Xeon (2026-12-05) against the AMD record: at most 1.3e-4
relative (the cross-modal β-VAE's weight sums), 2.2e-12 for the float64 multimodal run; a change of
the training itself (a step, a schedule, a seed) moves these numbers by far more.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

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
    if cpu_vendor() == PINS["cpu_vendor"]:
        assert got == PINS["systems"][system]
    else:
        assert not list(differences(got, PINS["systems"][system]))


def cpu_vendor() -> str:
    """The CPU's vendor string (``vendor_id`` of /proc/cpuinfo: GenuineIntel, AuthenticAMD), or ""."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def differences(got: Any, want: Any, path: str = "") -> Any:
    """Paths where ``got`` and ``want`` differ: structure and non-floats exactly, floats beyond
    ``isclose(rel_tol=1e-3, abs_tol=1e-5)``."""
    if isinstance(want, dict) and isinstance(got, dict) and got.keys() == want.keys():
        for key in want:
            yield from differences(got[key], want[key], f"{path}/{key}")
    elif isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            yield from differences(g, w, f"{path}/{i}")
    elif isinstance(want, float) and isinstance(got, float):
        if not math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-5):
            yield path, got, want
    elif got != want:
        yield path, got, want


def test_differences_finds_structure_and_float_changes():
    want = {"w": [[[2], 1.0, 4.0]], "loss": [0.5]}
    assert not list(differences({"w": [[[2], 1.0001, 4.0]], "loss": [0.5000001]}, want))
    assert [p for p, _, _ in differences({"w": [[[2], 1.01, 4.0]], "loss": [0.5]}, want)] == ["/w/0/1"]
    assert [p for p, _, _ in differences({"w": [[[3], 1.0, 4.0]], "loss": [0.5]}, want)] == ["/w/0/0/0"]
    assert list(differences({"w": [], "loss": [0.5]}, want))
