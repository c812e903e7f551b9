"""The image task: K ≥ 1 image VAEs (any registered model and objective) on ground-truth data.

One member (K = 1) trains its model as it is, under the full speed plan, with any objective
(including those with parameters or an auxiliary optimiser of their own). K > 1 members train as
one :class:`~betavae.train.ensemble.Ensemble`: per step member k gets the batch its single run
draws (``make_batch(source, B, seed_k, step)``), its own ε
(:class:`~betavae.train.ensemble.MemberNoise`) and its own objective and schedule values; one
forward of all members, one backward of the sum of the K losses, one Adam step over the stacked
parameters. Each member's state is a single run's state (its slice of the parameters and of Adam's
moments, its noise generator's state as the torch RNG state), so a member continues alone as a
single run, and a K-member task loaded from the members' states continues exactly where they stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from betavae.config import RunConfig
from betavae.objectives.terms import beta_normalised
from betavae.train.batches import BatchStream
from betavae.train.checkpoint import rng_state, set_rng_state
from betavae.train.ensemble import (
    Ensemble,
    MemberNoise,
    check_stateless,
    device_rng_state,
    ensemble_plan,
)
from betavae.train.speed import Speed, SpeedPlan, plan_for, to_float32
from betavae.train.task import TASKS, Task


@TASKS.register("image")
class ImageTask(Task):
    """K ≥ 1 members that may differ only in seed and objective (see ``check_members``).

    One member: ``model`` (trained as it is; ``step_model`` is what the steps call, maybe compiled),
    ``objective``, ``aux_optimizer``. K > 1: ``ensemble`` (the stacked parameters) and ``noise``
    (member k's ε generator); objectives with parameters or state of their own are refused.
    """

    @classmethod
    def build_member(cls, config: RunConfig) -> nn.Module:
        return config.model.build(tuple(config.data.build().observation_shape))

    @classmethod
    def speed_plan(cls, level: str, device: torch.device, steps: int, k: int) -> SpeedPlan:
        return plan_for(level, device, steps) if k == 1 else ensemble_plan(level, device, steps)

    def __init__(self, configs: Sequence[RunConfig], device: torch.device, speed: Speed,
                 seed_member: Any) -> None:
        self.configs, self.k, self.device, self.speed = list(configs), len(configs), device, speed
        tc = self.configs[0].train
        self.batch_size, self.prefetch = tc.batch_size, tc.prefetch
        self.source = self.configs[0].data.build()
        shape = tuple(self.source.observation_shape)
        # each member built as its single run builds its model: seed everything, then build. (An
        # ensemble seeds again after the speed plan's process switches, as it always did: with
        # train.deterministic that turns cuDNN autotuning off there; one run keeps it on.)
        self.models, noise = [], []
        for c in self.configs:
            if self.k > 1:
                seed_member(c.seed)
            self.models.append(c.model.build(shape).to(device))
            noise.append(device_rng_state(device))
        self.stacked = self.k > 1
        if self.k == 1:
            self.model = self.models[0]
            # state is saved and loaded through self.model, never the (maybe compiled) step_model
            self.step_model = speed.prepare_model(self.model)
        else:
            self.ensemble = Ensemble(self.models)
            speed.prepare_model(self.ensemble.base)
            self.noise = MemberNoise(noise, device)
        self.objectives = [c.objective.build(c.model.likelihood, c.model.latent_dim).to(device)
                           for c in self.configs]
        if self.k == 1:
            self.objective = self.objectives[0]
            # an objective's own optimiser for auxiliary parameters (e.g. FactorVAE's discriminator)
            self.aux_optimizer = self.objective.auxiliary_optimizer()
        else:
            for c, objective in zip(self.configs, self.objectives, strict=True):
                check_stateless(objective, c.objective.kind)
        self.data_dims = math.prod(shape)
        self.steps_per_epoch = tc.steps_per_epoch or max(1, len(self.source) // tc.batch_size)
        self._streams: list[BatchStream] = []

    # ------------------------------------------------------------------ training

    def param_groups(self) -> list[dict[str, Any]]:
        if self.k == 1:
            return [{"params": list(self.model.parameters())}, *self.objective.param_groups()]
        return [{"params": self.ensemble.parameters()}]

    def batches(self, start: int, stop: int) -> Iterator[torch.Tensor]:
        """Member k's batch of step t is ``make_batch(source, B, seed_k, t)``: (B, ...) or (K, B, ...)."""
        # Rendering a batch takes well under a millisecond: on a CPU a prefetch thread only competes
        # with torch's threads (measured: slower), so batches are made inline there by default.
        prefetch = self.prefetch if self.prefetch is not None else (2 if self.device.type == "cuda" else 0)
        self._streams = [BatchStream(self.source, self.batch_size, c.seed, start, stop, prefetch)
                         for c in self.configs]
        for xs in zip(*self._streams, strict=True):
            yield self.speed.batch(xs[0] if self.k == 1 else torch.stack(xs))

    def examples(self, x: torch.Tensor) -> int:
        return x.shape[-4]

    def close(self) -> None:
        for s in self._streams:
            s.close()

    def hypers(self, step: int, epoch: int) -> list[dict[str, float]]:
        return [o.hyper(step, epoch) for o in self.objectives]

    def terms(self, x: torch.Tensor, hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        """Every member's loss terms (x: one member's (B, C, H, W), else (K, B, C, H, W))."""
        if self.k == 1:
            return [self.objective(self.speed.forward(self.step_model, x), x, hypers[0])]
        eps_dtype = self.speed.dtype or torch.float32  # a single run draws ε like μ (autocast dtype)
        return self.ensemble_terms(x, self.noise.draw((x.shape[1], self.ensemble.latent_dim), eps_dtype), hypers)

    def ensemble_terms(self, x: torch.Tensor, eps: torch.Tensor | None,
                       hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        """Every ensemble member's loss terms (K > 1): x (K, B, C, H, W), eps (K, B, D) or None (z = μ).

        One forward of all members (under the plan's autocast); then member k's own objective on
        its slice, in fp32, exactly the code a single run calls.
        """
        with self.speed.autocast():
            outs = self.ensemble(x, eps)
        if self.speed.dtype is not None:
            outs = [to_float32(o) for o in outs]
        return [o(out, x[k], h) for k, (o, out, h) in enumerate(zip(self.objectives, outs, hypers, strict=True))]

    def loss(self, terms: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """The sum of the members' losses (plus an objective's auxiliary loss, whose parameters
        only its own optimiser steps)."""
        if self.k > 1:
            return torch.stack([t["loss"] for t in terms]).sum()
        t = terms[0]
        return t["loss"] if self.aux_optimizer is None else t["loss"] + t["aux_loss"]

    def row_extras(self, k: int, hyper: dict[str, float]) -> dict[str, Any]:
        return {"beta_norm": beta_normalised(hyper["beta"], self.configs[k].model.latent_dim, self.data_dims)}

    # ------------------------------------------------------------------ members and state

    def member(self, k: int) -> nn.Module:
        model = self.models[k]
        if self.k > 1:
            model.load_state_dict(self.ensemble.member_state_dict(k))
        return model

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        return self.model.state_dict() if self.k == 1 else self.ensemble.member_state_dict(k)

    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        if self.k == 1:
            self.model.load_state_dict(states[0])
        else:
            self.ensemble.load_member_state_dicts(states)

    def objective_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        return self.objectives[k].state_dict()

    def load_objective_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        for objective, state in zip(self.objectives, states, strict=True):
            objective.load_state_dict(state)

    def member_rng(self, k: int) -> dict[str, Any]:
        """A single run's RNG state; an ensemble member's noise generator stands in for torch's."""
        state = rng_state()
        if self.k == 1:
            return state
        g = self.noise.generators[k].get_state()
        if self.device.type == "cuda":
            cuda = list(state.get("cuda", []))
            cuda[self.device.index or 0] = g
            state["cuda"] = cuda
        else:
            state["torch"] = g
        return state

    def load_rngs(self, states: Sequence[dict[str, Any]]) -> None:
        if self.k == 1:
            set_rng_state(states[0])
            return
        key, index = ("cuda", self.device.index or 0) if self.device.type == "cuda" else ("torch", None)
        self.noise = MemberNoise([s[key] if index is None else s[key][index] for s in states], self.device)
