"""docs/studies/table1_trajectories.py and table1_information.py: known answers on small runs."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from betavae.config import build_config
from betavae.experiments.run import train

from ..conftest import tiny_tree

STUDIES = Path(__file__).parents[2] / "docs/studies"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, STUDIES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trajectory_summary_intervals_and_mean_image_count():
    tt = load_script("table1_trajectories")
    rows = [{"objective": "vae", "seed": s, "step": 250, "sse": sse, "kl": 1.0, "kl_per_dim": [1.0]}
            for s, sse in enumerate([20.0, 30.0, 170.0])]
    rows.append({"objective": "vae", "seed": 0, "step": 500, "sse": 10.0, "kl": 1.0, "kl_per_dim": [1.0]})
    (row,) = tt.summary(rows)  # step 500 is left out: not every run reached it
    assert row["step"] == 250 and row["seeds"] == 3 and row["sse"] == pytest.approx(220 / 3)
    half = 4.302652729749464 * math.sqrt(((20 - 220 / 3) ** 2 + (30 - 220 / 3) ** 2 + (170 - 220 / 3) ** 2) / 2) / math.sqrt(3)
    assert row["sse_high"] - row["sse"] == pytest.approx(half)
    assert row["at_mean_image"] == 1 and row["kl_low"] == pytest.approx(1.0)
    assert math.isnan(tt.t_interval([5.0])[1])


def test_information_rows_split_the_kl_and_see_a_shared_offset(tmp_path):
    ti = load_script("table1_information")
    run_dir = train(build_config(tiny_tree()), tmp_path)
    row = ti.run_row(run_dir, 64)
    assert row["objective"] == "beta" and row["seed"] == 3 and row["step"] == 12 and row["likelihood"] == "bernoulli"
    assert row["kl"] == pytest.approx(row["offset"] + row["spread"] + row["width"], abs=1e-9)
    assert row["joint_information"] <= row["information"] + 1e-9
    # an encoder that ignores its input: zero the weights of its last layer (it outputs μ, log σ²)
    path = run_dir / "weights.safetensors"
    with safe_open(path, "pt") as fh:
        metadata = fh.metadata()
    weights = load_file(path)
    weights["encoder.13.weight"] = weights["encoder.13.weight"] * 0
    save_file(weights, path, metadata=metadata)
    blind = ti.run_row(run_dir, 64)
    assert blind["information"] == pytest.approx(0.0, abs=1e-9) and blind["active_units"] == 0
    assert row["dead_encoder_layers"] == blind["dead_encoder_layers"] == ""  # zeroed weights, live ReLUs
    assert row["least_alive_layer"].startswith("encoder.") and 0 < row["least_alive_fraction"] <= 1
    assert blind["kl"] == pytest.approx(blind["offset"] + blind["width"], abs=1e-9)
    (summary,) = ti.by_setting([row, blind])
    assert summary["setting"] == "beta (lr 0.001, bernoulli, step 12)" and row["sigma"] is None
    assert summary["seeds"] == 2 and summary["kl"][0] == pytest.approx((row["kl"] + blind["kl"]) / 2)
