"""docs/studies/multimodal_findings.py: reading an earlier seeds.csv and the paired comparison at known points."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "studies" / "multimodal_findings.py"
spec = importlib.util.spec_from_file_location("multimodal_findings", SCRIPT)
mod = importlib.util.module_from_spec(spec)
sys.modules["multimodal_findings"] = mod  # dataclasses resolve their module by name
spec.loader.exec_module(mod)


def test_read_seeds_csv_splits_window_means_from_after_values(tmp_path):
    path = tmp_path / "seeds.csv"
    path.write_text("schedule,seed,window,measure,modality,value\n"
                    "const0,0,final,sme_all,vision,0.5\n"
                    "const0,1,final,sme_all,vision,0.25\n"
                    "const0,0,after,protocol.x,all,2.0\n")
    values, after = mod.read_seeds_csv(path)
    assert values == {mod.Cell("const0", "sme_all", "vision", "final"): {0: 0.5, 1: 0.25}}
    assert after == {mod.Cell("const0", "protocol.x", "all", "after"): {0: 2.0}}


def test_paired_comparison_of_known_ratios():
    """Left is exactly twice right on every seed: ratio 2 with a (numerically) zero-width interval;
    a claim in the other direction is then reversed, and differences that change sign are not
    distinguished."""
    left, right = mod.Cell("a", "m"), mod.Cell("b", "m")
    values = {left: {s: 2.0 * (s + 1) for s in range(5)}, right: {s: float(s + 1) for s in range(5)}}
    r = mod.compare(values, mod.Claim(left, right, less=False))
    assert (r["n"], r["scale"], r["verdict"]) == (5, "log10", "holds")
    assert r["ratio"] == pytest.approx(2.0) and r["ratio_low"] == pytest.approx(2.0)
    assert mod.compare(values, mod.Claim(left, right, less=True))["verdict"] == "reversed"
    values[left] = {0: 1.0, 1: 4.0, 2: 1.5, 3: 8.0, 4: 2.5}  # ratios 1, 2, 0.5, 2, 0.5
    assert mod.compare(values, mod.Claim(left, right))["verdict"] == "not distinguished"
    assert mod.compare({left: {0: 1.0}}, mod.Claim(left, right))["verdict"] == "no data"
