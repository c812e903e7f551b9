"""docs/studies/table1_trajectories.py: the interval and the summary at known points."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "studies" / "table1_trajectories.py"
spec = importlib.util.spec_from_file_location("table1_trajectories", SCRIPT)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)


def test_t_interval_known_answer():
    mean, lo, hi = mod.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) = 4.3027 (tables) · sd 1 / √3
    assert mean == 2.0 and lo == pytest.approx(2 - half, rel=1e-9) and hi == pytest.approx(2 + half, rel=1e-9)
    assert math.isnan(mod.t_interval([5.0])[1])


def test_summary_only_steps_every_run_reached_and_counts_the_mean_image():
    rows = [{"objective": "vae", "seed": s, "step": t, "sse": v, "kl": 1.0, "kl_per_dim": [1.0]}
            for s, series in enumerate([[200, 100, 50], [200, 172, 171], [200, 90]])
            for t, v in zip((250, 500, 750), series, strict=False)]
    table = mod.summary(rows)
    assert [r["step"] for r in table] == [250, 500]  # seed 2 stopped at 500
    assert table[1]["sse"] == pytest.approx((100 + 172 + 90) / 3)
    assert [r["at_mean_image"] for r in table] == [3, 1]  # > 0.95 · 170 = 161.5
