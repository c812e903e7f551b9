"""The sensorimotor task: K stacked multimodal VAEs of Zambelli et al. (2020) (spec §5).

Member k is the run config with seed s_k; it owns its initial weights (``torch.Generator(s_k)``),
its epoch shuffles (NumPy generator ``[s_k, 1]``) and its reparameterisation noise (NumPy
generator ``[s_k, 2]``), and its KL-weight schedule ``objective.alpha`` (members may follow
different schedules). Every epoch each member draws a permutation of the training rows (the
incomplete last batch is dropped: 7380 rows, batch 1000 -> 7 steps) and one block of noise
(steps, B, n_z); α = schedule(epoch) with 0-based epochs. One forward of all members
(``torch.baddbmm`` over the stacked weights), one backward of the sum of the K losses, one Adam
step: each member's gradient and (elementwise) Adam update are those it would get alone.

Resuming mid-epoch: a member's random state (:meth:`member_rng`) is its generators' state at the
*start* of the epoch being trained and that epoch's number; :meth:`batches` regenerates the epoch
from it and skips the steps already taken, so a resumed run draws exactly what it would have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from betavae.config import RunConfig
from betavae.data.sensorimotor_layout import mask_from_spec
from betavae.data.sensorimotor_rows import Sensorimotor
from betavae.errors import BetavaeError
from betavae.models.multimodal import MemberVAE
from betavae.train.speed import Speed, SpeedPlan, plan_for
from betavae.train.task import TASKS, Task

Batch = tuple[torch.Tensor, torch.Tensor]  # row indices (K, B), noise (K, B, n_z)
PLAN_NOTE = "sensorimotor task: plain numerics (stacked baddbmm MLPs); precision is model.precision"


@TASKS.register("sensorimotor")
class SensorimotorTask(Task):
    """K members (configs that differ in seed and ``objective.alpha``) as one :class:`EnsembleVAE`.

    ``data`` may be given (a study that already holds it); otherwise ``configs[0].data`` builds it.
    """

    stacked = True
    log_dtype = torch.float64

    @classmethod
    def speed_plan(cls, level: str, device: torch.device, steps: int, k: int) -> SpeedPlan:
        plan = plan_for("plain", device, steps)
        return dataclasses.replace(plan, level=level, notes=(*plan.notes, PLAN_NOTE))

    @classmethod
    def build_member(cls, config: RunConfig) -> MemberVAE:
        """One member (an ensemble of one with (B, ·) methods), fresh weights; its ``state_dict``
        is what a run saves."""
        return config.model.build_member(config.seed, config.data.layout())

    def __init__(self, configs: Sequence[RunConfig], device: torch.device, speed: Speed,
                 seed_member: Any = None, data: Sensorimotor | None = None) -> None:
        self.configs, self.k, self.device, self.speed = list(configs), len(configs), device, speed
        c0 = self.configs[0]
        self.data = data if data is not None else c0.data.build()
        rows, b = len(self.data.train_input), c0.train.batch_size
        if rows < b:
            raise BetavaeError(f"batch size {b} exceeds the {rows} training rows; "
                               "lower train.batch_size or simulate more rows")
        if c0.train.steps_per_epoch not in (None, rows // b):
            raise BetavaeError(f"train.steps_per_epoch: the sensorimotor task takes every full batch of its "
                               f"{rows} rows per epoch ({rows // b}); leave it unset")
        constants = {c.objective.nll_constant for c in self.configs}
        if len(constants) > 1:
            raise BetavaeError(f"members of one ensemble must share objective.nll_constant, got {sorted(constants)}")
        mask_from_spec(c0.model.measures.pe_input, self.data.layout)  # a bad model.measures fails before training
        self.batch_size, self.steps_per_epoch = b, rows // b
        self.seeds = [c.seed for c in self.configs]
        self.precision = c0.model.precision
        dtype = c0.model.dtype
        self.model = c0.model.build(self.seeds, self.data.layout).to(device)
        self.inputs = torch.as_tensor(self.data.train_input, dtype=dtype, device=device)
        self.targets = torch.as_tensor(self.data.train_target, dtype=dtype, device=device)
        self.objective = c0.objective.build(self.data.layout, c0.model.n_z, dtype, device)
        self.schedules = [c.objective.alpha for c in self.configs]
        self._hypers: tuple[int, list[dict[str, float]]] | None = None
        self._members: dict[int, MemberVAE] = {}
        self._loss: torch.Tensor | None = None
        # each member's (shuffle, noise) generator states at the start of epoch self._epoch
        self._epoch = 0
        self._starts = [(np.random.default_rng([s, 1]).bit_generator.state,
                         np.random.default_rng([s, 2]).bit_generator.state) for s in self.seeds]

    # ------------------------------------------------------------------ training

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": list(self.model.parameters())}]

    def _epoch_draws(self, shufflers: list, noise: list) -> Batch:
        """One epoch: each member's permutation (K, steps, B) and noise (steps, K, B, n_z), drawn
        with NumPy (its ziggurat normal sampler is ~5x faster than torch's CPU normal_)."""
        steps, b = self.steps_per_epoch, self.batch_size
        n = len(self.inputs)
        order = torch.from_numpy(np.stack([g.permutation(n)[: steps * b] for g in shufflers]))
        order = order.view(self.k, steps, b).to(self.device)
        dtype = np.float32 if self.inputs.dtype == torch.float32 else np.float64
        eps = np.stack([g.standard_normal((steps, b, self.model.n_z), dtype=dtype) for g in noise], 1)
        return order, torch.from_numpy(eps).to(self.device)

    def batches(self, start: int, stop: int) -> Iterator[Batch]:
        """Step t's batch: member k's rows ``order_k[t mod steps]`` of epoch ⌊t/steps⌋ and its noise."""
        spe = self.steps_per_epoch
        if start // spe < self._epoch:
            raise BetavaeError(f"cannot start at step {start}: the random state is that of epoch {self._epoch}")
        shufflers, noise = [], []
        for shuffle_state, noise_state in self._starts:
            shufflers.append(_generator(shuffle_state))
            noise.append(_generator(noise_state))
        for epoch in range(self._epoch, math.ceil(stop / spe)):
            self._epoch = epoch
            self._starts = [(s.bit_generator.state, n.bit_generator.state) for s, n in zip(shufflers, noise, strict=True)]
            order, eps = self._epoch_draws(shufflers, noise)
            for s in range(max(0, start - epoch * spe), min(spe, stop - epoch * spe)):
                yield order[:, s], eps[s]

    def hypers(self, step: int, epoch: int) -> list[dict[str, float]]:
        """α of each member at this epoch (constant within the epoch; at its first step for
        step-unit schedules)."""
        if self._hypers is None or self._hypers[0] != epoch:
            at = epoch * self.steps_per_epoch
            self._hypers = (epoch, [{"alpha": s.at(at, epoch)} for s in self.schedules])
        return self._hypers[1]

    def terms(self, batch: Batch, hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        idx, eps = batch
        alpha = self.objective.alpha_tensor([h["alpha"] for h in hypers])
        with self.autocast():
            out = self.model(self.inputs[idx], eps)
        t = self.objective.terms(out, self.targets[idx], alpha)
        self._loss = t["loss"]
        return [{"loss": t["loss"][k], "recon": t["recon"][k], "kl": t["kl"][k]} for k in range(self.k)]

    def loss(self, terms: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """The sum of the members' losses, from the (K,) vector the step computed."""
        assert self._loss is not None
        return self._loss.sum()

    def autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast of the matmuls for ``model.precision: bf16``; a no-op otherwise."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ members and state

    def member(self, k: int) -> nn.Module:
        """Member k alone (an ensemble of one) holding its current weights."""
        if k not in self._members:
            self._members[k] = self.build_member(self.configs[k]).to(self.device)
        model = self._members[k]
        model.load_state_dict(self.member_state_dict(k))
        return model

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights as an ensemble of one holds them: ``params.<name>`` (1, ...)."""
        return {f"params.{name}": p[k:k + 1].detach().clone() for name, p in self.model.params.items()}

    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        with torch.no_grad():
            for name, p in self.model.params.items():
                p.copy_(torch.cat([s[f"params.{name}"] for s in states]))

    def member_rng(self, k: int) -> dict[str, Any]:
        shuffle, noise = self._starts[k]
        return {"epoch": self._epoch, "shuffle": shuffle, "noise": noise}

    def load_rngs(self, states: Sequence[dict[str, Any]]) -> None:
        epochs = {int(s["epoch"]) for s in states}
        if len(epochs) != 1:
            raise BetavaeError(f"members' random states belong to different epochs {sorted(epochs)}")
        self._epoch = epochs.pop()
        self._starts = [(s["shuffle"], s["noise"]) for s in states]


def _generator(state: dict[str, Any]) -> np.random.Generator:
    g = np.random.default_rng()
    g.bit_generator.state = state
    return g
