"""Training through the one loop: swap training lowers the swap loss on a fixed batch; run folders
round-trip; the shipped configs train and resume after kill -9 to the same weights."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from betavae.config import TrainConfig, load_config
from betavae.experiments.run import train
from betavae.experiments.rundir import read_metrics
from betavae.objectives.vsa import slot_pairs
from betavae.shipped import shipped_path
from betavae.train.loop import Loop
from betavae.train.speed import Speed
from betavae.train.tasks.vsa import VSATask, build_model, to_tensors
from betavae.vsa.evaluate import evaluate_run
from betavae.vsa.load import load_run

from .conftest import TINY_EVAL, TINY_OVERRIDES


class FixedBatchTask(VSATask):
    """The vsa task with every step on one batch."""

    def __init__(self, cfg, batch):
        cpu = torch.device("cpu")
        super().__init__([cfg], cpu, Speed(VSATask.speed_plan("plain", cpu, 1, 1), cpu), None)
        self.batch = batch

    def batches(self, start, stop):
        for _ in range(start, stop):
            yield self.batch


def fixed_batch_rows(cfg, batch, steps):
    """The loop's rows (one per step) of ``steps`` steps on one batch; and the task."""
    task = FixedBatchTask(cfg, batch)
    rows = []
    tc = TrainConfig(steps=steps, lr=1e-3, log_every=1, checkpoint_every=steps, device="cpu", report=False)
    Loop(task=task, train=tc).fit(lambda k, row: rows.append(row), lambda k, state: None)
    return rows, task


def test_swap_training_lowers_the_swap_loss_on_a_fixed_batch(tiny):
    torch.manual_seed(0)
    cfg = tiny("pd")
    batch = to_tensors(cfg.data.build("train").batch(range(8)))
    task = FixedBatchTask(cfg, batch)

    def swap_loss() -> float:
        task.model.eval()
        with torch.no_grad():
            return task.terms(batch, [{}])[0]["swap"].item()

    before = swap_loss()
    rows = []
    tc = TrainConfig(steps=40, lr=1e-3, log_every=1, checkpoint_every=40, device="cpu", report=False)
    Loop(task=task, train=tc).fit(lambda k, row: rows.append(row), lambda k, state: None)
    assert len(rows) == 40 and set(rows[-1]) >= {"loss", "image", "swap", "kl", "cos", "log_sigma"}
    assert swap_loss() < 0.6 * before


def test_all_stages_step_with_finite_terms(tiny):
    for stage in ("sd", "psd"):
        cfg = tiny(stage)
        assert (build_model(cfg).memory is not None) == (stage == "psd")
        rows, _ = fixed_batch_rows(cfg, to_tensors(cfg.data.build("train").batch(range(4))), 1)
        assert all(math.isfinite(v) for k, v in rows[0].items() if isinstance(v, float))


def test_random_slot_assignment_uses_both_orders(tiny):
    model = build_model(tiny("psd"))
    pa, pb = slot_pairs(model, 64, "random", torch.Generator().manual_seed(0))
    first = (pa == model.memory.slots[0]).all(1)
    assert 0 < first.sum() < 64 and torch.equal(pb[first], model.memory.slots[1].expand(int(first.sum()), -1))


def test_run_folder_round_trip_and_evaluation(tiny, tmp_path):
    cfg = tiny("psd", steps=2)
    run = train(cfg, tmp_path)
    assert [r["step"] for r in read_metrics(run)] == [1, 2]
    loaded_cfg, model = load_run(run)
    assert loaded_cfg == cfg
    assert torch.equal(model.memory.vectors, build_model(cfg).memory.vectors)
    saved_weights = load_file(run / "weights.safetensors")
    assert all(torch.equal(v, saved_weights[k]) for k, v in model.state_dict().items())
    out = evaluate_run(run, TINY_EVAL)
    saved = json.loads((run / "eval.json").read_text())
    assert saved["values"]["vsa.scene.iou"] == out["values"]["vsa.scene.iou"] and 0 <= out["values"]["vsa.scene.iou"] <= 1
    assert "vsa.good" not in saved["values"] and saved["values"]["vsa.classifier.trusted"] is False  # tiny classifier
    assert isinstance(saved["values"]["vsa.collapsed"], bool) and np.array(saved["tables"]["vsa.probe.matrix"]).shape == (5, 5)
    assert (run / "swap.png").stat().st_size > 0


def test_a_vsa_model_needs_vsa_data_and_objective(tiny):
    from betavae.config import build_config
    from betavae.errors import BetavaeError
    from betavae.train.tasks.vsa import check_config

    tree = {"model": {"kind": "feature_vae"}, "objective": {"kind": "vsa"}}
    with pytest.raises(BetavaeError, match="trains on data.kind paired_dsprites"):
        check_config(build_config(tree))
    with pytest.raises(BetavaeError, match="trains with objective.kind=vsa, not beta"):
        check_config(build_config({**tree, "data": {"kind": "paired_dsprites"}, "objective": {"kind": "beta"}}))


@pytest.mark.parametrize("name", ["vsa_paired", "vsa_scenes", "vsa_paired_scenes"])
def test_shipped_configs_are_vsa_runs(name):
    cfg = load_config(shipped_path(name), TINY_OVERRIDES)
    assert cfg.model.task == "vsa" and cfg.objective.kind == "vsa"
    assert cfg.data.stage == {"vsa_paired": "pd", "vsa_scenes": "sd", "vsa_paired_scenes": "psd"}[name]
    assert (build_model(cfg).memory is not None) == (name == "vsa_paired_scenes")


def _bvae(args, cwd, env):
    return subprocess.Popen([sys.executable, "-m", "betavae.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_kill_9_then_resume_ends_with_the_uninterrupted_weights(tmp_path):
    """`bvae train vsa_paired_scenes` killed with SIGKILL after a checkpoint, resumed with
    `bvae train --resume`, ends with every tensor equal to an uninterrupted run's."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
           "BETAVAE_CACHE_DIR": str(tmp_path / "cache")}
    args = ["train", "vsa_paired_scenes", "train.steps=200", "train.checkpoint_every=10", "train.log_every=2",
            *[o for o in TINY_OVERRIDES if not o.startswith(("train.log_every", "train.checkpoint_every"))]]
    whole = _bvae([*args, "--runs-dir", str(tmp_path / "whole")], tmp_path, env)
    assert whole.wait(timeout=600) == 0, whole.stdout.read()
    killed = _bvae([*args, "--runs-dir", str(tmp_path / "killed")], tmp_path, env)
    state = None
    while killed.poll() is None and state is None:
        found = list((tmp_path / "killed").glob("*/state.pt"))
        state = found[0] if found else None
        time.sleep(0.05)
    assert state is not None, "no checkpoint before the run ended"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    run = state.parent
    assert 10 <= torch.load(state, weights_only=True)["step"] < 200  # killed mid-run, after a checkpoint
    resumed = _bvae(["train", "--resume", str(run)], tmp_path, env)
    assert resumed.wait(timeout=600) == 0, resumed.stdout.read()
    (ref_dir,) = (tmp_path / "whole").iterdir()
    assert ref_dir.name == run.name
    ref, got = load_file(ref_dir / "weights.safetensors"), load_file(run / "weights.safetensors")
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    assert [r["step"] for r in read_metrics(run)] == list(range(2, 201, 2))
