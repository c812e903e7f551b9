"""The study's two training stages (spec §5–8, §10), trained by the one loop (:class:`~betavae.train.loop.Loop`).

β-VAE (:class:`~betavae.train.tasks.audiovisual.AudiovisualTask`): Adam(5e-4, weight_decay 1e-4)
driven by OneCycleLR(max_lr 5e-3) stepped every batch, batch 64 shuffled, 70 epochs, per-member
gradient-norm clip 5.0, loss MSE_v + MSE_a + β(e)·γ·(|KL_v − C(e)| + |KL_a − C(e)|) with γ = 10,
C(e) = min(13e/70, 13) and β(e) one of the thesis's nine strategies, one per member
(:mod:`betavae.objectives.crossmodal`). Per epoch it records each member's train accuracy (mean
cosine of sampled reconstructions, train mode) and validation accuracy (eval mode, sampled z), so
Table 2's epoch means can be formed. Translator
(:class:`~betavae.train.tasks.audiovisual.TranslatorTask`): Adam(1e-4, ε 1e-7), batch 64, 25
epochs, MSE (or MSE + cosine distance). :class:`VAESettings` and :class:`TranslatorSettings` are
the study's settings; :meth:`VAESettings.train_config` and :func:`translator_train_config` turn
them into the loop's ``TrainConfig`` (``bvae train crossmodal_joint`` gives the same settings as
YAML).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

from betavae.bounds import NonNegative
from betavae.config import Strict, TrainConfig
from betavae.data.audiovisual import AudiovisualArrays
from betavae.models.crossmodal import CrossModalVAE, CrossModalVAEConfig
from betavae.models.seq2seq import Seq2Seq
from betavae.objectives.crossmodal import CrossModalConfig
from betavae.train.loop import Loop, resolve_device
from betavae.train.tasks.audiovisual import AudiovisualTask, TranslatorTask

Progress = Callable[[str, int], None]
log = logging.getLogger(__name__)


class VAESettings(Strict):
    epochs: PositiveInt = 70
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 5e-4
    weight_decay: float = Field(1e-4, ge=0)
    onecycle: bool = True
    max_lr: PositiveFloat = 5e-3
    clip: PositiveFloat = 5.0
    gamma: NonNegative = 10.0
    capacity_max: NonNegative = 13.0
    capacity_epochs: PositiveInt = 70
    kl_reduction: Literal["mean_per_dim", "sum"] = "mean_per_dim"
    #: plain (eager fp32, PyTorch's Adam), fast (fused Adam, glibc malloc kept warm; same
    #: numerics) or fastest (adds bf16 autocast of the matmuls on CPUs with native bf16);
    #: the levels of :mod:`betavae.train.speed`, see docs/crossmodal.md (Performance)
    speed: Literal["plain", "fast", "fastest"] = "fast"
    #: where the β-VAEs train (``train.device``'s values: cpu, cuda, cuda:N, mps, auto); the returned
    #: model is on the CPU either way, for the measures. ``bvae train``/``bvae sweep`` runs take
    #: ``train.device`` from their config instead.
    device: str = "cpu"

    def train_config(self) -> TrainConfig:
        """The loop's settings (epochs, batch, Adam, OneCycle, clipping, speed, device; a row per epoch)."""
        schedule = {"kind": "onecycle", "max_lr": self.max_lr} if self.onecycle else {"kind": "constant"}
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                           lr_schedule=schedule, clip=self.clip, speed=self.speed, log_every=1,
                           checkpoint_every=self.epochs, device=self.device, report=False)

    def objective(self, strategy: int) -> CrossModalConfig:
        """Member objective of β strategy ``strategy``."""
        return CrossModalConfig(strategy=strategy, gamma=self.gamma, capacity_max=self.capacity_max,
                                capacity_epochs=self.capacity_epochs, kl_reduction=self.kl_reduction)


class TranslatorSettings(Strict):
    epochs: PositiveInt = 25
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-4  # the code; the thesis text says 3e-4
    loss: Literal["mse", "mse+cos"] = "mse"
    hidden: PositiveInt = 8
    #: zeros (the reference), teacher (teacher forcing in training, free-running evaluation) or
    #: target (flaw F6: the true target is the decoder's input; forensic only, never evidence)
    decoder_input: Literal["zeros", "teacher", "target"] = "zeros"


HISTORY = ("train_acc", "val_acc", "loss", "kl_v", "kl_a", "beta")


def _fit(task: Any, train: TrainConfig, stage: str, progress: Progress | None) -> list[list[dict]]:
    """Train ``task`` with the loop (no checkpoints kept); each member's rows, one per epoch."""
    rows: list[list[dict]] = [[] for _ in range(task.k)]

    def log(k: int, row: dict) -> None:
        rows[k].append(row)
        if progress and k == 0:
            progress(stage, 1)

    Loop(task=task, train=train).fit(log, lambda k, state: None)
    return rows


def train_vae(video: np.ndarray, audio: np.ndarray, train: np.ndarray, val: np.ndarray, variant: str,
              strategies: list[int], seeds: list[int], cfg: VAESettings | None = None,
              progress: Progress | None = None) -> tuple[CrossModalVAE, dict[str, np.ndarray]]:
    """Train M = len(seeds) β-VAEs (member i: seed ``seeds[i]``, β strategy ``strategies[i]``) on
    rows ``train`` of ``video`` (N, 30, Cv) and ``audio`` (N, 30, Ca). Returns the model (eval
    mode, on the CPU; trained on ``cfg.device``) and the history: ``train_acc``, ``val_acc``, ``loss``,
    ``kl_v``, ``kl_a``, ``beta`` (epochs, M)."""
    cfg = cfg or VAESettings()
    tc = cfg.train_config()
    task = AudiovisualTask.on_arrays(AudiovisualArrays(video, audio, train, val), CrossModalVAEConfig(variant=variant),
                                     [cfg.objective(s) for s in strategies], seeds, tc, resolve_device(tc.device))
    rows = _fit(task, tc, "vae", progress)
    hist = {key: np.array([[r[key] for r in member] for member in rows]).T for key in HISTORY}
    return task.model.eval().cpu(), hist


def translator_train_config(cfg: TranslatorSettings, lr: float | None = None) -> TrainConfig:
    """The loop's settings of the translator stage (Adam ε 1e-7, plain numerics)."""
    return TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=lr or cfg.lr, adam_eps=1e-7, speed="plain",
                       log_every=1, checkpoint_every=cfg.epochs, device="cpu", report=False)


def train_translator(x: np.ndarray, y: np.ndarray, train: np.ndarray, seeds: list[int],
                     cfg: TranslatorSettings | None = None, progress: Progress | None = None,
                     lr: float | None = None) -> Seq2Seq:
    """Train M translators on rows ``train``: ``x`` (M, N, T_in, d_in) → ``y`` (M, N, T_out, d_out)."""
    cfg = cfg or TranslatorSettings()
    if cfg.decoder_input == "target":
        log.warning("decoder_input=target feeds the true audio latent to the decoder (flaw F6): "
                    "a forensic reproduction, not a translation result")
    task = TranslatorTask(x, y, train, seeds, cfg.batch_size, cfg.hidden, cfg.decoder_input, cfg.loss)
    _fit(task, translator_train_config(cfg, lr), "translator", progress)
    return task.model.eval()
