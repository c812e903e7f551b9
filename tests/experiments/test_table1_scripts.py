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


def test_t_interval_known_answer():
    tt = load_script("table1_trajectories")
    mean, lo, hi = tt.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) = 4.3027 (tables) · sd 1 / √3
    assert mean == 2.0 and lo == pytest.approx(2 - half, rel=1e-9) and hi == pytest.approx(2 + half, rel=1e-9)
    assert math.isnan(tt.t_interval([5.0])[1])


def test_summary_only_steps_every_run_reached_and_counts_the_mean_image():
    tt = load_script("table1_trajectories")
    rows = [{"objective": "vae", "seed": s, "step": t, "sse": v, "kl": 1.0, "kl_per_dim": [1.0]}
            for s, series in enumerate([[200, 100, 50], [200, 172, 171], [200, 90]])
            for t, v in zip((250, 500, 750), series, strict=False)]
    table = tt.summary(rows, 160.0)
    assert [r["step"] for r in table] == [250, 500]  # seed 2 stopped at 500
    assert table[1]["sse"] == pytest.approx((100 + 172 + 90) / 3)
    assert [r["at_mean_image"] for r in table] == [3, 1]  # > 0.97 · 160 = 155.2
    interval = table[0]["sse_high"] - table[0]["sse"]
    assert interval == pytest.approx(0.0) and table[0]["kl_low"] == pytest.approx(1.0)  # three equal values


def test_mean_image_sse_is_the_pixel_variance_sum_of_binary_images():
    import numpy as np

    from betavae.data.dsprites import DSprites

    tt = load_script("table1_trajectories")
    value = tt.mean_image_sse(images=2000, seed=0)
    data = DSprites()
    x = np.asarray(data.observations(data.sample_factors(2000, np.random.default_rng(0))), dtype=np.float64)
    m = x.reshape(2000, -1).mean(0)
    assert np.unique(x).tolist() == [0.0, 1.0]  # binary pixels: E(x - m)² = m(1 - m) per pixel
    assert value == pytest.approx(float((m * (1 - m)).sum()), rel=1e-12)
    assert 148 < value < 158  # 152.7 at 20,000 images; the first design's collapsed runs sat at ≈ 171


def test_trajectories_files_and_figure_from_run_folders(tmp_path, monkeypatch):
    import csv
    import json
    import sys

    import yaml

    tt = load_script("table1_trajectories")
    runs = tmp_path / "runs"
    for kind, seed in (("vae", 0), ("vae", 1), ("capacity", 0)):
        d = runs / f"{kind}-s{seed}"
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "objective": {"kind": kind}}))
        lines = [{"step": step, "recon": 170.0 - step / 10 - seed, "kl": step / 100, "kl_per_dim": [step / 200] * 2,
                  **({"capacity": 30 * step / 100_000} if kind == "capacity" else {})} for step in (250, 500)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    monkeypatch.setattr(sys, "argv", ["table1_trajectories.py", str(runs), "--out", str(tmp_path / "out")])
    monkeypatch.setattr(tt, "mean_image_sse", lambda: 152.7)
    tt.main()
    with (tmp_path / "out" / "trajectories.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["objective"], r["step"], r["capacity"]) for r in rows if r["objective"] == "capacity"] == [
        ("capacity", "250", "0.075"), ("capacity", "500", "0.15")]
    assert all(r["capacity"] == "" for r in rows if r["objective"] == "vae")
    with (tmp_path / "out" / "summary.csv").open() as fh:
        vae_500 = next(r for r in csv.DictReader(fh) if r["objective"] == "vae" and r["step"] == "500")
    assert float(vae_500["sse"]) == pytest.approx(119.5) and vae_500["at_mean_image"] == "0"
    assert (tmp_path / "out" / "trajectories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
