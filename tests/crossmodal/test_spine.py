"""The cross-modal system on the one loop: `bvae train crossmodal_*` run folders, exact resume
(kill -9 at an epoch's checkpoint, SIGINT mid-epoch), the task's per-member contract."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from betavae.cli import main
from betavae.config import TrainConfig, load_config
from betavae.crossmodal.train import VAESettings, train_vae
from betavae.data.audiovisual import AudiovisualArrays
from betavae.errors import BetavaeError
from betavae.experiments.run import resume, train_ensemble
from betavae.experiments.rundir import read_metrics
from betavae.models.crossmodal import CrossModalVAEConfig
from betavae.objectives.crossmodal import CrossModalConfig
from betavae.shipped import shipped_path
from betavae.train.callbacks import Callback
from betavae.train.ensemble import seed_configs
from betavae.train.tasks.audiovisual import AudiovisualTask, SharedRows

#: the tiny set (1 set × 2 voices, pseudo-speech): 57 symbol-split training rows, 8 steps an epoch
TINY = ["data.n_sets=1", "data.n_voices=2", "data.img_size=64", "data.speech=tones", "train.batch_size=8"]
LOGGED = ("loss", "kl_v", "kl_a", "train_acc", "val_acc", "beta", "capacity", "lr")


def tiny_configs(name: str, epochs: int, checkpoint_every: int = 1, seeds=(0, 1), extra=()):
    cfg = load_config(shipped_path(name), [*TINY, f"train.epochs={epochs}",
                                           f"train.checkpoint_every={checkpoint_every}", *extra])
    return seed_configs(cfg, list(seeds))


def assert_same_weights(a, b) -> None:
    wa, wb = load_file(a / "weights.safetensors"), load_file(b / "weights.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def assert_same_rows(a, b) -> None:
    ra, rb = read_metrics(a), read_metrics(b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for x, y in zip(ra, rb, strict=True):
        assert {k: x[k] for k in LOGGED} == {k: y[k] for k in LOGGED}


@pytest.mark.slow
def test_shipped_configs_train_the_two_variants_into_run_folders(tiny_corpus, tmp_path):
    """`bvae train` of each shipped variant: ordinary run folders, one metrics row per epoch, the
    same history as the study's train_vae on the same arrays (one loop, two doors)."""
    runs = tmp_path / "runs"
    for name, variant in (("crossmodal_separate", "separate"), ("crossmodal_joint", "joint")):
        assert main(["train", name, *TINY, "train.epochs=2", "--runs-dir", str(runs), "--seeds", "0,1"]) == 0
        configs = tiny_configs(name, 2)
        dirs = [runs / c.run_id() for c in configs]
        assert [c.model.variant for c in configs] == [variant] * 2
        rows = [read_metrics(d) for d in dirs]
        assert [r["epoch"] for r in rows[0]] == [1, 2] and [r["step"] for r in rows[0]] == [8, 16]
        data = configs[0].data.build()
        _, hist = train_vae(data.video, data.audio, data.train, data.val, variant, [6, 6], [0, 1],
                            VAESettings(epochs=2, batch_size=8, speed="fast"))
        for k in range(2):
            for key in ("loss", "train_acc", "val_acc", "kl_v", "kl_a", "beta"):
                assert [r[key] for r in rows[k]] == hist[key][:, k].tolist(), (name, k, key)
        one = load_file(dirs[1] / "weights.safetensors")
        assert all(t.shape[0] == 1 for t in one.values())  # member 1 alone: a one-member model's weights


@pytest.mark.slow
def test_kill_9_then_resume_ends_with_the_uninterrupted_weights(tiny_corpus, tmp_path):
    configs = tiny_configs("crossmodal_separate", 10, checkpoint_every=2)
    runs = tmp_path / "killed"
    args = ["crossmodal_separate", *TINY, "train.epochs=10", "train.checkpoint_every=2"]
    proc = subprocess.Popen([sys.executable, "-m", "betavae.cli", "train", *args, "--seeds", "0,1",
                             "--runs-dir", str(runs)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=os.environ.copy())
    run = runs / configs[0].run_id()
    deadline = time.monotonic() + 1200  # generous: a loaded 2-core machine took > 300 s to epoch 5
    reached = False
    try:
        while not reached and time.monotonic() < deadline:
            rows = read_metrics(run) if (run / "metrics.jsonl").exists() else []
            reached = bool(rows) and rows[-1]["epoch"] >= 5
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert reached, "training did not reach epoch 5 before the deadline (machine overloaded?)"
    state = torch.load(run / "state.pt", weights_only=True)
    assert 4 * 8 <= state["step"] < 10 * 8  # killed after a checkpoint, before the end
    assert main(["train", "--resume", str(run)]) == 0  # continues both members
    full = train_ensemble(configs, tmp_path / "full")
    for d in full:
        assert_same_weights(d, runs / d.name)
        assert_same_rows(d, runs / d.name)


class StopAt(Callback):
    """Send this process SIGINT after step ``at`` (the loop checkpoints there and stops)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step(self, step: int) -> None:
        if step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_interrupted_mid_epoch_resumes_exactly(tiny_corpus, tmp_path):
    # (a lower peak rate: at batch 8 the joint variant's KL blows up at 5e-3, and the loop stops on NaN)
    configs = tiny_configs("crossmodal_joint", 3, seeds=(4, 2, 7), extra=["train.lr_schedule.max_lr=0.001"])
    with pytest.raises(BetavaeError, match="interrupted at step 11"):
        train_ensemble(configs, tmp_path / "stopped", [StopAt(11)])  # epoch 2, step 3 of 8
    stopped = [tmp_path / "stopped" / c.run_id() for c in configs]
    assert torch.load(stopped[0] / "state.pt", weights_only=True)["step"] == 11
    with pytest.raises(BetavaeError, match="resume only together"):
        resume(stopped[1])  # a member alone: its numbers depend on the others
    main(["train", "--resume", str(stopped[0])])
    for d in train_ensemble(configs, tmp_path / "full"):
        assert_same_weights(d, tmp_path / "stopped" / d.name)


def test_shared_rows_resume_any_step_with_the_same_batches():
    whole = SharedRows(21, 4, [3, 2, 1])
    steps = list(whole.batches(0, 20))
    assert [len(b) for b in steps[:6]] == [4, 4, 4, 4, 4, 1]  # the last batch keeps the remainder
    assert sorted(np.concatenate(steps[6:12]).tolist()) == list(range(21))  # an epoch is a permutation
    for cut in (5, 6, 9, 14):
        first = SharedRows(21, 4, [3, 2, 1])
        head = list(first.batches(0, cut))
        again = SharedRows(21, 4, [0, 0, 0])
        again.load(first.state())
        assert [b.tolist() for b in head + list(again.batches(cut, 20))] == [b.tolist() for b in steps]


def test_each_members_loss_reaches_only_its_own_weights():
    rng = np.random.default_rng(1)
    data = AudiovisualArrays(rng.random((24, 30, 6), dtype=np.float32), rng.random((24, 30, 4), dtype=np.float32),
                             np.arange(20), np.arange(20, 24))
    tc = TrainConfig(epochs=7, batch_size=8, speed="plain", log_every=1, checkpoint_every=1)
    task = AudiovisualTask.on_arrays(data, CrossModalVAEConfig(), [CrossModalConfig(strategy=s) for s in (9, 2, 5)],
                                     [0, 1, 2], tc)
    batch = next(iter(task.batches(0, 1)))
    hypers = task.hypers(0, 6)
    assert [h["beta"] for h in hypers] == [0.07 * (1 - np.exp(-6 / 10)), 6 / 50, 0.003 * 6]  # strategies at e = 6
    assert hypers[0]["capacity"] == 13 * (6 / 70)
    terms = task.terms(batch, hypers)
    params = list(task.model.parameters())
    grads = torch.autograd.grad(terms[1]["loss"], params, allow_unused=True, retain_graph=True)
    for p, g in zip(params, grads, strict=True):
        g = torch.zeros_like(p) if g is None else g
        assert g[0].abs().sum() == 0 and g[2].abs().sum() == 0
    assert sum(float(g[1].abs().sum()) for g in grads if g is not None) > 0
    values, weight = task.log_values(terms, batch)
    assert weight == 8 and torch.equal(values[2]["loss"], terms[2]["loss"].detach() * 8)
    assert 0 < float(values[0]["train_acc"]) / 8 <= 1  # a sum of 8 cosines of non-negative inputs


def test_members_must_share_everything_but_seed_and_strategy(tiny_corpus):
    a, b = tiny_configs("crossmodal_separate", 1)
    b = b.model_copy(update={"objective": CrossModalConfig(gamma=3.0)})
    rng = np.random.default_rng(0)
    data = AudiovisualArrays(rng.random((10, 30, 6), dtype=np.float32), rng.random((10, 30, 4), dtype=np.float32),
                             np.arange(8), np.arange(8, 10))
    with pytest.raises(BetavaeError, match="differ in objective.strategy only"):
        AudiovisualTask.on_arrays(data, a.model, [a.objective, b.objective], [0, 1], a.train)
