"""The loop's contract with a task it knows nothing about (issue #19): a toy stacked task.

K linear models y = w·x fitted by least squares, stacked on a leading member axis, trained in
epochs with per-member weights of the logged terms, epoch-end values, OneCycle, clipping and
exact continuation from the members' states.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from betavae.config import HASHED_IF_SET, TrainConfig, build_config
from betavae.errors import BetavaeError
from betavae.train.loop import Loop
from betavae.train.speed import Speed, plan_for
from betavae.train.task import Task, clip_per_member

CPU = torch.device("cpu")


class ToyTask(Task):
    """K members w_k ∈ R^3; data: 10 rows, batches of 4 (last batch of 2 kept): 3 steps per epoch."""

    stacked = True
    log_dtype = torch.float64

    def __init__(self, k: int = 2) -> None:
        self.k, self.device = k, CPU
        self.speed = Speed(plan_for("plain", CPU, None), CPU)
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(10, 3, generator=gen, dtype=torch.float64)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        self.w = torch.zeros(k, 3, dtype=torch.float64, requires_grad=True)
        self.rng = np.random.default_rng(7)
        self.epoch_start = self.rng.bit_generator.state  # the state that draws the next step's epoch
        self.steps_per_epoch = 3
        self.ended: list[int] = []

    def param_groups(self):
        return [{"params": [self.w]}]

    def _epoch(self, epoch: int) -> list[np.ndarray]:
        perm = self.rng.permutation(10)
        return [perm[i:i + 4] for i in range(0, 10, 4)]

    def batches(self, start, stop):
        """The loop checkpoints *between* a yield and the next request, so the state saved must be
        the one that draws the epoch of the next step: after an epoch's last batch, the next epoch's."""
        epoch, offset = divmod(start, self.steps_per_epoch)
        step = start
        while step < stop:
            self.rng.bit_generator.state = self.epoch_start
            batches = self._epoch(epoch)
            following = self.rng.bit_generator.state
            for i, idx in enumerate(batches[offset:], offset):
                if step >= stop:
                    return
                if i == len(batches) - 1:
                    self.epoch_start = following
                yield idx
                step += 1
            epoch, offset = epoch + 1, 0

    def hypers(self, step, epoch):
        return [{"scale": float(k + 1)} for k in range(self.k)]

    def terms(self, idx, hypers):
        err = (self.x[idx] @ self.w.T).T - self.y[idx]  # (K, B)
        loss = err.pow(2).mean(1) * torch.tensor([h["scale"] for h in hypers], dtype=torch.float64)
        return [{"loss": loss[k]} for k in range(self.k)]

    def log_values(self, terms, idx):
        return [{"loss": t["loss"] * len(idx)} for t in terms], len(idx)

    def epoch_end(self, epoch):
        self.ended.append(epoch)
        return [{"w0": float(self.w.detach()[k, 0])} for k in range(self.k)]

    def member(self, k):
        return torch.nn.Module()

    def member_state_dict(self, k):
        return {"w": self.w.detach()[k].clone()}

    def load_member_state_dicts(self, states):
        with torch.no_grad():
            self.w.copy_(torch.stack([s["w"] for s in states]))

    def member_rng(self, k):
        return {"epoch_start": dict(self.epoch_start)}

    def load_rngs(self, states):
        self.epoch_start = states[0]["epoch_start"]


def train_settings(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 4, "log_every": 1, "checkpoint_every": 1, "lr": 0.05, **kw})


def run(loop: Loop) -> tuple[list[tuple[int, dict]], list[tuple[int, dict]]]:
    rows, states = [], []
    loop.fit(lambda k, row: rows.append((k, row)), lambda k, s: states.append((k, s)))
    return rows, states


def test_epochs_count_steps_and_rows_log_weighted_means_and_epoch_end_values():
    task = ToyTask()
    loop = Loop(task=task, train=train_settings())
    assert loop.total_steps == 12
    rows, states = run(loop)
    assert [(k, r["step"], r["epoch"]) for k, r in rows[:4]] == [(0, 3, 1), (1, 3, 1), (0, 6, 2), (1, 6, 2)]
    assert task.ended == [0, 1, 2, 3]
    assert [s["step"] for _, s in states[::2]] == [3, 6, 9, 12]
    assert all(r["w0"] == float(s["model"]["w"][0]) for (_, r), (_, s) in zip(rows, states, strict=True))
    assert rows[0][1]["scale"] == 1.0 and rows[1][1]["scale"] == 2.0


def test_the_logged_mean_is_sum_over_weighted_terms_divided_by_the_weights():
    task = ToyTask(k=1)
    w_before = []
    losses = []
    original = task.terms

    def spy(idx, hypers):
        w_before.append(task.w.detach().clone())
        out = original(idx, hypers)
        losses.append((float(out[0]["loss"].detach()), len(idx)))
        return out

    task.terms = spy
    rows, _ = run(Loop(task=task, train=train_settings(epochs=1)))
    expected = sum(v * n for v, n in losses) / sum(n for _, n in losses)
    assert rows[0][1]["loss"] == pytest.approx(expected, rel=1e-15)
    assert [n for _, n in losses] == [4, 4, 2]


def test_onecycle_follows_pytorch_and_resume_from_states_is_exact():
    settings = train_settings(lr_schedule={"kind": "onecycle", "max_lr": 0.2}, clip=1.0)
    full_rows, full_states = run(Loop(task=ToyTask(), train=settings))
    reference = torch.optim.lr_scheduler.OneCycleLR(torch.optim.Adam([torch.zeros(1, requires_grad=True)]),
                                                    0.2, total_steps=12)
    lrs = []
    for _ in range(12):
        reference.optimizer.step()
        reference.step()
        lrs.append(reference.get_last_lr()[0])
    assert [r["lr"] for k, r in full_rows if k == 0] == [lrs[i] for i in (2, 5, 8, 11)]

    class Stop(Exception):
        pass

    first = Loop(task=ToyTask(), train=settings)
    saved: dict[int, dict] = {}

    def save(k, state):
        saved[k] = state
        if state["step"] == 6 and k == 1:
            raise Stop

    with pytest.raises(Stop):
        first.fit(lambda k, row: None, save)
    second = Loop(task=ToyTask(), train=settings)
    second.load_states([saved[0], saved[1]])
    assert second.step == 6
    _, states = run(second)
    for k in (0, 1):
        assert torch.equal(states[-2 + k][1]["model"]["w"], full_states[-2 + k][1]["model"]["w"])
        assert states[-1][1]["scheduler"] == full_states[-1][1]["scheduler"]


def test_clip_per_member_scales_each_member_to_its_own_norm():
    a = torch.zeros(2, 3, requires_grad=True)
    b = torch.zeros(2, 4, requires_grad=True)
    a.grad = torch.tensor([[6.0, 0.0, 0.0], [0.3, 0.0, 0.0]])
    b.grad = torch.tensor([[0.0, 8.0, 0.0, 0.0], [0.0, 0.4, 0.0, 0.0]])  # member norms 10 and 0.5
    clip_per_member([a, b], 2, 5.0)
    scale = 5.0 / (10.0 + 1e-6)
    torch.testing.assert_close(a.grad[0], torch.tensor([6.0 * scale, 0.0, 0.0]))
    torch.testing.assert_close(b.grad[1], torch.tensor([0.0, 0.4, 0.0, 0.0]))  # below the norm: unchanged


def test_train_config_steps_or_epochs_and_schedule_checks():
    with pytest.raises(ValueError, match="train.steps or train.epochs"):
        TrainConfig(steps=10, epochs=2)
    assert TrainConfig(epochs=2).steps is None
    assert TrainConfig.model_validate(TrainConfig(epochs=2).model_dump()).epochs == 2  # round trip
    with pytest.raises(ValueError, match="needs lr_schedule.max_lr"):
        TrainConfig(lr_schedule={"kind": "onecycle"})
    with pytest.raises(BetavaeError, match="Loop\\(task=...\\) needs its train settings"):
        Loop(task=ToyTask())


def test_keys_added_later_are_hashed_only_when_set():
    # known answers: the hashes main gave these configs before train.epochs/weight_decay/lr_schedule/clip existed
    assert build_config({}).config_hash() == "11d9b91a"
    changed = {key for key, _ in HASHED_IF_SET}
    assert changed == {"train.epochs", "train.weight_decay", "train.lr_schedule", "train.clip", "train.trackers",
                       "train.stop_when", "model.likelihood.link"}
    assert build_config({"train": {"clip": 1.0}}).config_hash() != "11d9b91a"
    assert build_config({"train": {"trackers": []}}).config_hash() == "11d9b91a"
    assert build_config({"train": {"trackers": ["tensorboard"]}}).config_hash() != "11d9b91a"
    assert build_config({"train": {"stop_when": []}}).config_hash() == "11d9b91a"
    gaussian = {"kind": "gaussian"}  # its hash before model.likelihood.link existed: 1a276697
    assert build_config({"model": {"likelihood": gaussian}}).config_hash() == "1a276697"
    assert build_config({"model": {"likelihood": {**gaussian, "link": "sigmoid"}}}).config_hash() == "1a276697"
    assert build_config({"model": {"likelihood": {**gaussian, "link": "identity"}}}).config_hash() != "1a276697"
