"""The cross-modal tasks (Bangarwaa 2025): the two-modality β-VAE ensemble and the latent translators.

``audiovisual``: K members of :class:`~betavae.models.crossmodal.CrossModalVAE`, stacked in one
model (``stacked``), trained on an :class:`~betavae.data.audiovisual.AudiovisualArrays` split with
the :mod:`~betavae.objectives.crossmodal` loss (members may differ in seed and β ``strategy``).
As in the thesis reproduction, the members are built *jointly*: ``torch.manual_seed(s0·1000 + K)``
(s0 the first member's seed) initialises all of them, one NumPy generator
``default_rng([s0, K, 1])`` draws every epoch's permutation of the training rows (the last batch
may be short) and one ``torch.Generator(s0)`` draws every ε, the validation accuracy's included.
So member k's numbers depend on the whole ensemble, and each member's checkpoint holds the shared
random state: the ensemble resumes exactly (mid-epoch too: the state at the epoch's start is kept
and the permutation drawn again), a member alone cannot.

The loop's settings reproduce the reference optimiser: ``train.lr`` 5e-4, ``weight_decay`` 1e-4,
``lr_schedule: {kind: onecycle, max_lr: 5e-3}``, ``clip`` 5.0 (per member), ``batch_size`` 64.
Logged per epoch (``log_every: 1`` with ``train.epochs``): the row-weighted epoch means of
``loss``, ``kl_v``, ``kl_a`` and ``train_acc`` (mean cosine of the sampled reconstructions,
training mode), ``beta`` and ``capacity``, and ``val_acc`` (eval mode, sampled z).

``translator``: M :class:`~betavae.models.seq2seq.Seq2Seq` translators on arrays the caller gives
(a study's second stage, trained with ``Loop(task=..., train=...)``): MSE (or MSE + cosine
distance), seeded ``s0·1000 + 7K + 1``, permutations from ``default_rng([s0, K, 3])``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from betavae.data.audiovisual import AudiovisualArrays
from betavae.errors import BetavaeError
from betavae.models.crossmodal import (
    CrossModalMember,
    CrossModalVAE,
    CrossModalVAEConfig,
    cosine_rows,
    gather,
    reconstruction_accuracy,
)
from betavae.models.seq2seq import Seq2Seq
from betavae.objectives.crossmodal import CrossModalConfig, crossmodal_terms
from betavae.train.speed import Speed, SpeedPlan, plan_for, to_float32
from betavae.train.task import TASKS, Task

#: speed switches that do not apply to these models (no 2-d convolutions, no nn.ReLU modules) or do not pay
NOT_APPLICABLE = dict(channels_last=False, fast_deconv=False, inplace_relu=False, compile=False)


def epoch_batches(n: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches: a permutation of range(n) drawn from ``rng``, cut every ``batch`` rows
    (the last batch keeps the remainder)."""
    perm = rng.permutation(n)
    return [perm[i:i + batch] for i in range(0, n, batch)]


class SharedRows:
    """The shared NumPy generator of a task's epoch permutations, resumable mid-epoch.

    It keeps its state at the start of the epoch being drawn from, so :meth:`batches` started at
    any step draws that epoch's permutation again and skips the batches already trained."""

    def __init__(self, n: int, batch: int, seed: list[int]) -> None:
        self.n, self.batch = n, batch
        self.steps_per_epoch = -(-n // batch)
        self.rng = np.random.default_rng(seed)
        self.epoch_start = self.rng.bit_generator.state

    def batches(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Row indices (into the training rows) of steps ``start .. stop-1``."""
        spe = self.steps_per_epoch
        if start % spe:  # resumed mid-epoch: draw the epoch's permutation again
            self.rng.bit_generator.state = self.epoch_start
        step = start
        while step < stop:
            self.epoch_start = self.rng.bit_generator.state
            chunks = epoch_batches(self.n, self.batch, self.rng)
            for idx in chunks[step % spe:]:
                if step >= stop:
                    return
                yield idx
                step += 1

    def state(self) -> dict[str, str]:
        return {"rows": json.dumps(self.rng.bit_generator.state), "rows_epoch_start": json.dumps(self.epoch_start)}

    def load(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = json.loads(state["rows"])
        self.epoch_start = json.loads(state["rows_epoch_start"])


class StackedTask(Task):
    """What both cross-modal tasks share: one model whose every tensor has a leading member axis
    K, built jointly; member k's weights are the slices ``[k:k+1]`` (a one-member model's state
    dict); the random state (``rows``, ``generator``) is shared and saved with every member."""

    stacked = True
    model: nn.Module
    rows: SharedRows
    generator: torch.Generator | None = None

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": list(self.model.parameters())}]

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        return {name: t[k:k + 1].detach().clone() for name, t in self.model.state_dict().items()}

    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        if len(states) != self.k:
            raise BetavaeError(f"{len(states)} member states for a cross-modal ensemble of {self.k}")
        self.model.load_state_dict({name: torch.cat([s[name] for s in states]) for name in states[0]})

    def member_rng(self, k: int) -> dict[str, Any]:
        state: dict[str, Any] = {"members": self.k, **self.rows.state()}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def load_rngs(self, states: Sequence[dict[str, Any]]) -> None:
        first = states[0]
        if first.get("members") != self.k or any(s["rows"] != first["rows"] for s in states):
            raise BetavaeError("cross-modal members share their random state and resume only together, as the "
                               f"ensemble of {first.get('members')} they were trained in (bvae train --resume)")
        self.rows.load(first)
        if self.generator is not None:
            self.generator.set_state(first["generator"])


@TASKS.register("audiovisual")
class AudiovisualTask(StackedTask):
    """K two-modality β-VAEs on one split; ``Loop(configs)`` builds it from the members' configs
    (which may differ only in seed and objective), :meth:`on_arrays` from arrays (the study)."""

    @classmethod
    def build_member(cls, config: Any) -> CrossModalMember:
        """One member (M = 1) for ``config``'s data dimensions; see :class:`CrossModalMember` for
        what a loaded run's ``encode``/``decode``/``predict`` do."""
        cv, ca = config.data.feature_dims()
        m = config.model
        return CrossModalMember(1, m.variant, cv, ca, m.z_video, m.z_audio)

    @classmethod
    def speed_plan(cls, level: str, device: torch.device, steps: int, k: int) -> SpeedPlan:
        """The plan of ``level`` less what does not apply here (no 2-d convolutions, no nn.ReLU
        modules) and torch.compile (measured 1.03x for ≈ 40 s of compilation per unit)."""
        plan = plan_for(level, device, steps)
        if level == "plain":
            return plan
        return dataclasses.replace(plan, **NOT_APPLICABLE, notes=("torch.compile off: 1.03x for this model",))

    def __init__(self, configs: Sequence[Any], device: torch.device, speed: Speed, seed_member: Any = None) -> None:
        c0 = configs[0]
        objectives = [c.objective for c in configs]
        self._check(c0.model, objectives)  # before the data are built
        self._build(c0.data.build(), c0.model, objectives, [c.seed for c in configs], c0.train, device, speed)

    @classmethod
    def on_arrays(cls, data: AudiovisualArrays, model: CrossModalVAEConfig, objectives: Sequence[CrossModalConfig],
                  seeds: Sequence[int], train: Any, device: torch.device | None = None) -> AudiovisualTask:
        """The task for arrays the caller prepared (``train``: the run's TrainConfig)."""
        device = device or torch.device("cpu")
        task = cls.__new__(cls)
        steps = train.steps or train.epochs * -(-len(data.train) // train.batch_size)
        task._build(data, model, objectives, seeds, train, device,
                    Speed(cls.speed_plan(train.speed, device, steps, len(seeds)), device))
        return task

    @staticmethod
    def _check(model: Any, objectives: Sequence[Any]) -> None:
        if any(not isinstance(o, CrossModalConfig) for o in objectives):
            raise BetavaeError("model.kind=crossmodal trains with objective.kind=crossmodal")
        shared = {(o.gamma, o.capacity_max, o.capacity_epochs, o.kl_reduction) for o in objectives}
        if len(shared) > 1:
            raise BetavaeError("cross-modal ensemble members may differ in objective.strategy only")

    def _build(self, data: AudiovisualArrays, model: CrossModalVAEConfig, objectives: Sequence[CrossModalConfig],
               seeds: Sequence[int], train: Any, device: torch.device, speed: Speed) -> None:
        self._check(model, objectives)
        if not isinstance(data, AudiovisualArrays):
            raise BetavaeError("model.kind=crossmodal trains on data.kind=audiovisual")
        self.k, self.device, self.speed = len(seeds), device, speed
        self.data, self.objective = data, objectives[0]
        self.video = torch.as_tensor(data.video).to(device)
        self.audio = torch.as_tensor(data.audio).to(device)
        s0 = int(seeds[0])
        torch.manual_seed(s0 * 1000 + self.k)
        self.model = model.build(self.k, data.video.shape[2], data.audio.shape[2]).to(device)
        self.rows = SharedRows(len(data.train), train.batch_size, [s0, self.k, 1])
        self.generator = torch.Generator(device).manual_seed(s0)
        self.steps_per_epoch = self.rows.steps_per_epoch
        steps = train.steps or train.epochs * self.steps_per_epoch
        epochs = -(-steps // self.steps_per_epoch)
        self.betas = np.stack([o.betas(epochs) for o in objectives], 1)  # (epochs, K)
        self.capacity = self.objective.capacities(epochs)

    # ------------------------------------------------------------------ training

    def batches(self, start: int, stop: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """Step t's batch: the K members' video (K, B, 30, Cv) and audio (K, B, 30, Ca) (views of
        the same rows) and B."""
        for idx in self.rows.batches(start, stop):
            rows = self.data.train[idx]
            yield gather(self.video, rows, self.k), gather(self.audio, rows, self.k), len(rows)

    def examples(self, batch: tuple[torch.Tensor, torch.Tensor, int]) -> int:
        return batch[2]

    def hypers(self, step: int, epoch: int) -> list[dict[str, float]]:
        cap = float(self.capacity[epoch])
        return [{"beta": float(b), "capacity": cap} for b in self.betas[epoch]]

    def terms(self, batch: tuple[torch.Tensor, torch.Tensor, int], hypers: list[dict[str, float]]
              ) -> list[dict[str, torch.Tensor]]:
        v, a, _ = batch
        with self.speed.autocast():
            out = to_float32(self.model(v, a, generator=self.generator))
        beta = torch.tensor([h["beta"] for h in hypers], dtype=torch.float32, device=self.device)
        self.last = crossmodal_terms(out, v, a, beta, self.objective.gamma, hypers[0]["capacity"],
                                     self.objective.kl_reduction)
        return [{"loss": loss} for loss in self.last["loss"].unbind()]

    def loss(self, terms: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        return self.last["loss"].sum()

    def log_values(self, terms: list[dict[str, torch.Tensor]], batch: Any) -> tuple[list[dict[str, torch.Tensor]], float]:
        """Row-weighted: each term times the batch's rows (train_acc: the sum over them)."""
        n = batch[2]
        with torch.no_grad():
            t = self.last
            values = torch.stack([t["train_acc_sum"], t["loss"].detach() * n, t["kl_v"].detach() * n,
                                  t["kl_a"].detach() * n], 1)
        return [dict(zip(("train_acc", "loss", "kl_v", "kl_a"), row.unbind(), strict=True)) for row in values], n

    def epoch_end(self, epoch: int) -> list[dict[str, float]]:
        """Every member's validation accuracy (eval mode, sampled z from the shared generator)."""
        with self.speed.autocast():
            acc = reconstruction_accuracy(self.model, self.video, self.audio, self.data.val, sample=True,
                                          generator=self.generator)
        self.model.train()
        return [{"val_acc": float(x)} for x in acc]

    # ------------------------------------------------------------------ members

    def member(self, k: int) -> CrossModalVAE:
        with torch.device("meta"):  # no initialisation (and no draw from the global RNG)
            one = CrossModalVAE(1, self.model.variant, self.data.video.shape[2], self.data.audio.shape[2],
                                self.model.zv, self.model.za)
        one.load_state_dict(self.member_state_dict(k), assign=True)
        return one


@TASKS.register("translator")
class TranslatorTask(StackedTask):
    """M latent translators ``x`` (M, N, T_in, d_in) → ``y`` (M, N, T_out, d_out) on rows ``train``
    (loss ``mse`` or ``mse+cos``); built by the caller and trained with ``Loop(task=..., train=...)``.

    To the loop the M translators are *one* member (``k`` = 1, not ``stacked``) whose loss is the
    sum of theirs: they are built, trained and kept together (a study's second stage; never saved
    or resumed one by one), and one logging window instead of M keeps the loop's bookkeeping
    small next to these ≈ 1-ms steps."""

    stacked = False

    def __init__(self, x: np.ndarray, y: np.ndarray, train: np.ndarray, seeds: Sequence[int], batch_size: int,
                 hidden: int = 8, decoder_input: str = "zeros", loss: str = "mse") -> None:
        m = x.shape[0]
        self.k, self.device = 1, torch.device("cpu")
        self.speed = Speed(plan_for("plain", self.device), self.device)
        self.loss_kind, self.train_rows = loss, train
        s0 = int(seeds[0])
        torch.manual_seed(s0 * 1000 + 7 * m + 1)
        self.model = Seq2Seq(m, x.shape[3], y.shape[3], hidden, y.shape[2], decoder_input)
        self.x, self.y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)  # copies
        self.rows = SharedRows(len(train), batch_size, [s0, m, 3])
        self.steps_per_epoch = self.rows.steps_per_epoch

    def batches(self, start: int, stop: int) -> Iterator[torch.Tensor]:
        for idx in self.rows.batches(start, stop):
            yield torch.as_tensor(self.train_rows[idx])

    def terms(self, rows: torch.Tensor, hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        """The sum over the M translators of their losses (each the mean over its batch)."""
        target = self.y[:, rows]
        pred = self.model(self.x[:, rows], target)
        loss = (pred - target).pow(2).mean((1, 2, 3))
        if self.loss_kind == "mse+cos":
            loss = loss + (1 - cosine_rows(pred, target)).mean(1)
        return [{"loss": loss.sum()}]

    def member(self, k: int) -> Seq2Seq:
        return self.model

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        self.model.load_state_dict(states[0])
