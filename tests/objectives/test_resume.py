"""Objectives with state (buffers, parameters, their own optimiser) resume bit-exactly."""

from __future__ import annotations

import pytest
import torch

from betavae.config import build_config
from betavae.experiments.run import resume, train
from betavae.experiments.rundir import read_metrics

from ..conftest import tiny_tree
from ..core.test_train import CrashAt, assert_same_weights

LOGGED = {"per_latent": ("beta.0", "signal.3"), "learned": ("beta_eff", "w_kl"), "factorvae": ("tc_d", "aux_loss")}
STATEFUL = {
    "per_latent": {"kind": "per_latent", "ema": 0.5, "t_warm": 3},
    "learned": {"kind": "learned", "lr": 1e-2},
    "factorvae": {"kind": "factorvae", "gamma": 10, "disc_hidden": 32, "disc_layers": 2},
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_crash_then_resume_equals_uninterrupted(tmp_path, name):
    cfg = build_config({**tiny_tree(steps=8), "objective": STATEFUL[name]})
    full = train(cfg, tmp_path / "full")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, tmp_path / "crash", callbacks=[CrashAt(6)])
    run = tmp_path / "crash" / full.name
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 4
    resume(run)
    assert_same_weights(full, run)  # includes the objective's tensors (objective.*)
    rows_full, rows_run = read_metrics(full), read_metrics(run)
    assert [r["loss"] for r in rows_full] == [r["loss"] for r in rows_run]
    assert all(key in rows_run[-1] for key in LOGGED[name])
    state = torch.load(run / "state.pt", weights_only=True)
    assert ("aux_optimizer" in state) == (name == "factorvae")
