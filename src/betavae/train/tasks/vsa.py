"""The dSprites-VSA tasks: the feature-vector VAE (task ``vsa``) and its factor classifier.

:class:`VSATask` trains one :class:`~betavae.models.feature_vae.FeatureVAE` (K = 1) on a split
dSprites data kind; the data kind is the training stage (``paired_dsprites``: pd, swap training;
``scene_dsprites``: sd, scenes; ``paired_scene_dsprites``: psd, paired scenes with the item
memory) and the ``vsa`` objective computes that stage's loss. Step t (0-based) trains on items
``t·B … (t+1)·B − 1`` (modulo ``data.epoch_size``), so a resumed run sees the batches an
uninterrupted one sees. ε and the random slot assignment come from the global torch RNG, which
is the run's RNG state (as for one image VAE).

:class:`ClassifierTask` trains the factor classifier of spec §7.2 on single train-split images;
it is not registered (no run config names it): :mod:`betavae.vsa.classifier` builds it and trains
it with ``Loop(task=..., train=...)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from betavae.config import RunConfig
from betavae.data.dsprites_split import N_ANGLES, ORIENT, SplitDSpritesConfig, decode, pool
from betavae.data.render import make_renderer
from betavae.errors import BetavaeError
from betavae.models.factor_classifier import FactorClassifier
from betavae.models.feature_vae import FeatureVAE
from betavae.objectives.vsa import VSAObjectiveConfig
from betavae.train.speed import Speed, SpeedPlan, plan_for
from betavae.train.task import TASKS, Task

Batch = dict[str, torch.Tensor]


def to_tensors(batch: Any, device: torch.device | str = "cpu") -> Batch:
    """A dataset batch (dataclass of arrays) -> dict of tensors on ``device``."""
    return {k: torch.as_tensor(np.asarray(v)).to(device) for k, v in vars(batch).items()}


def build_model(config: RunConfig) -> FeatureVAE:
    """The model of a vsa run config (item memory by the data kind's stage, see FeatureVAEConfig)."""
    return config.model.build(config.data.stage)


def check_config(config: RunConfig) -> None:
    """A clear error unless data, model and objective are the vsa kinds."""
    if not isinstance(config.data, SplitDSpritesConfig):
        raise BetavaeError(f"model.kind={config.model.kind} trains on data.kind paired_dsprites, scene_dsprites "
                           f"or paired_scene_dsprites, not {config.data.kind}")
    if not isinstance(config.objective, VSAObjectiveConfig):
        raise BetavaeError(f"model.kind={config.model.kind} trains with objective.kind=vsa, "
                           f"not {config.objective.kind}")


@TASKS.register("vsa")
class VSATask(Task):
    """One feature-vector VAE on paired / scene / paired-scene dSprites (spec/dsprites-vsa.md §5.3)."""

    @classmethod
    def build_member(cls, config: RunConfig) -> FeatureVAE:
        """The run's feature VAE with fresh weights (``betavae.load_run`` loads the saved ones): a
        loaded run's ``encode`` takes images (B, 1, 64, 64) in [0, 1] and gives μ and log σ² of the
        five feature vectors (B, 5, d), ``decode`` gives image logits of object or scene vectors (B, d)."""
        check_config(config)
        return build_model(config)

    @classmethod
    def speed_plan(cls, level: str, device: torch.device, steps: int, k: int) -> SpeedPlan:
        """The level's plan, with the exact transposed-convolution kernels on CPU at every level
        (vsa always trained with them; its pins were recorded so), and without autocast and
        torch.compile (the objective calls the model's parts, not its forward)."""
        plan = plan_for(level, device, steps)
        notes = list(plan.notes)
        changes: dict[str, Any] = {}
        if torch.device(device).type == "cpu" and not plan.fast_deconv:
            changes["fast_deconv"] = True
            notes.append("fast_deconv on at every level for vsa (an exact reformulation)")
        if plan.autocast or plan.compile:
            changes.update(autocast=None, grad_scaler=False, compile=False)
            notes.append("autocast and torch.compile off for vsa: the objective calls the model's parts")
        return dataclasses.replace(plan, **changes, notes=tuple(notes)) if changes else plan

    def __init__(self, configs: Sequence[RunConfig], device: torch.device, speed: Speed, seed_member: Any) -> None:
        if len(configs) != 1:
            raise BetavaeError(f"the vsa task trains one model at a time, got {len(configs)} configs; "
                               "train the seeds one after another")
        self.config = c = configs[0]
        check_config(c)
        tc = c.train
        self.device, self.speed = device, speed
        self.stage = c.data.stage
        self.model = build_model(c).to(device)
        speed.prepare_model(self.model)
        self.objective = c.objective.build()
        self.data = c.data.build("train")
        self.batch_size, self.epoch_size = tc.batch_size, c.data.epoch_size
        self.steps_per_epoch = tc.steps_per_epoch or max(1, self.epoch_size // self.batch_size)

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": list(self.model.parameters())}]

    def batches(self, start: int, stop: int) -> Iterator[Batch]:
        """Step t's batch: items t·B … (t+1)·B − 1 modulo the epoch size, as tensors on the device."""
        b = self.batch_size
        for step in range(start, stop):
            items = np.arange(step * b, (step + 1) * b) % self.epoch_size
            yield {k: self.speed.batch(v) for k, v in to_tensors(self.data.batch(items)).items()}

    def examples(self, batch: Batch) -> int:
        return self.batch_size

    def terms(self, batch: Batch, hypers: list[dict[str, float]]) -> list[dict[str, torch.Tensor]]:
        return [self.objective(self.model, batch, self.stage)]

    def member(self, k: int) -> nn.Module:
        return self.model

    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        self.model.load_state_dict(states[0])


class ClassifierTask(Task):
    """The factor classifier (spec §7.2): step t trains on ``batch_size`` single train-split
    images drawn by ``default_rng([seed, 0, t])``, cross-entropy summed over the five heads
    (orientation as one of the 39 distinct angles). Built with ``torch.manual_seed(seed)``."""

    def __init__(self, data: SplitDSpritesConfig, seed: int, batch_size: int,
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.speed = Speed(plan_for("plain", self.device), self.device)
        self.seed, self.batch_size = seed, batch_size
        torch.manual_seed(seed)
        self.model = FactorClassifier().to(self.device)
        self.pool = pool("train", data.split_seed, data.test_fraction)
        self.render = make_renderer(data.renderer)

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": list(self.model.parameters())}]

    def batches(self, start: int, stop: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for step in range(start, stop):
            rng = np.random.default_rng([self.seed, 0, step])
            factors = decode(self.pool[rng.integers(len(self.pool), size=self.batch_size)])
            x = torch.from_numpy(self.render(factors).astype(np.float32))
            factors[:, ORIENT] %= N_ANGLES
            yield x.to(self.device), torch.from_numpy(factors).to(self.device)

    def terms(self, batch: tuple[torch.Tensor, torch.Tensor], hypers: list[dict[str, float]]
              ) -> list[dict[str, torch.Tensor]]:
        x, y = batch
        return [{"loss": sum(F.cross_entropy(h, y[:, f]) for f, h in enumerate(self.model(x)))}]

    def member(self, k: int) -> nn.Module:
        return self.model

    def load_member_state_dicts(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        self.model.load_state_dict(states[0])
