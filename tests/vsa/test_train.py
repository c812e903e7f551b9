"""Training: swap training lowers the swap loss on a fixed batch; run folders round-trip."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from betavae.vsa.evaluate import evaluate_run
from betavae.vsa.train import (
    build_model,
    load_run,
    make_dataset,
    pd_terms,
    slot_pairs,
    to_tensors,
    train_step,
    train_vsa,
)


def test_swap_training_lowers_the_swap_loss_on_a_fixed_batch(tiny):
    torch.manual_seed(0)
    cfg = tiny("pd")
    model = build_model(cfg)
    batch = to_tensors(make_dataset(cfg, "train").batch(range(8)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def swap_loss() -> float:
        model.eval()
        with torch.no_grad():
            return pd_terms(model, batch, cfg)["swap"].item()

    before = swap_loss()
    for _ in range(40):
        row = train_step(model, opt, batch, cfg)
    assert set(row) >= {"loss", "image", "swap", "kl", "cos", "log_sigma"}
    assert swap_loss() < 0.6 * before


def test_all_stages_step_with_finite_terms(tiny):
    for stage in ("sd", "psd"):
        cfg = tiny(stage)
        model = build_model(cfg)
        assert (model.memory is not None) == (stage == "psd")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        row = train_step(model, opt, to_tensors(make_dataset(cfg, "train").batch(range(4))), cfg)
        assert all(math.isfinite(v) for v in row.values())


def test_random_slot_assignment_uses_both_orders(tiny):
    model = build_model(tiny("psd"))
    pa, pb = slot_pairs(model, 64, "random", torch.Generator().manual_seed(0))
    first = (pa == model.memory.slots[0]).all(1)
    assert 0 < first.sum() < 64 and torch.equal(pb[first], model.memory.slots[1].expand(int(first.sum()), -1))


def test_run_folder_round_trip_and_evaluation(tiny, tmp_path):
    cfg = tiny("psd", steps=2)
    summary = train_vsa(cfg, tmp_path)
    assert summary["steps"] == 2 and len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    loaded_cfg, model = load_run(tmp_path)
    assert loaded_cfg == cfg
    assert torch.equal(model.memory.vectors, build_model(cfg).memory.vectors)
    out = evaluate_run(tmp_path)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["vsa.scene.iou"] == out["vsa.scene.iou"] and 0 <= out["vsa.scene.iou"] <= 1
    assert isinstance(saved["vsa.good"], bool) and np.array(saved["vsa.probe.matrix"]).shape == (5, 5)
    assert (tmp_path / "swap.png").stat().st_size > 0
