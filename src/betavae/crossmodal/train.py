"""Training of the β-VAE ensemble (spec §5–8) and of the translators (spec §10).

β-VAE: Adam(5e-4, weight_decay 1e-4) driven by OneCycleLR(max_lr 5e-3) stepped every batch,
batch 64 shuffled, 70 epochs, per-member gradient-norm clip 5.0, loss
MSE_v + MSE_a + β(e)·γ·(|KL_v − C(e)| + |KL_a − C(e)|) with γ = 10, C(e) = min(13e/70, 13) (the
shared :class:`~betavae.schedules.Capacity`) and β(e) one of the thesis's nine strategies (the
shared :class:`~betavae.schedules.Thesis`), one per member. Per epoch it records each member's
train accuracy (mean cosine of sampled reconstructions, train mode) and validation accuracy (eval
mode, sampled z), so Table 2's epoch means can be formed. Translator: Adam(1e-4, ε 1e-7), batch
64, 25 epochs, MSE (or MSE + cosine distance).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import Field, PositiveFloat, PositiveInt

from betavae.bounds import NonNegative
from betavae.config import Strict
from betavae.crossmodal.model import CrossModalVAE, cosine_rows, kl_per_member
from betavae.crossmodal.seq2seq import Seq2Seq
from betavae.schedules import Capacity, Thesis
from betavae.train.speed import Speed, SpeedPlan, plan_for, to_float32

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


class TranslatorSettings(Strict):
    epochs: PositiveInt = 25
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-4  # the code; the thesis text says 3e-4
    loss: Literal["mse", "mse+cos"] = "mse"
    hidden: PositiveInt = 8
    #: zeros (the reference), teacher (teacher forcing in training, free-running evaluation) or
    #: target (flaw F6: the true target is the decoder's input; forensic only, never evidence)
    decoder_input: Literal["zeros", "teacher", "target"] = "zeros"


def _batches(n: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    perm = rng.permutation(n)
    return [perm[i:i + batch] for i in range(0, n, batch)]


def _gather(x: torch.Tensor, idx: np.ndarray, m: int) -> torch.Tensor:
    """Rows ``idx`` of a shared (N, ...) tensor, repeated for M members: (M, B, ...)."""
    return x[torch.as_tensor(idx)].unsqueeze(0).expand(m, *([-1] * x.dim()))


def clip_per_member(params: list[torch.nn.Parameter], m: int, max_norm: float) -> None:
    """clip_grad_norm_ for each member on its own slice of every (member-major) parameter."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g, dim=tuple(range(1, g.dim()))) for g in grads], 1), dim=1)
    coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.reshape(m, *[1] * (g.dim() - 1)))


def vae_speed_plan(cfg: VAESettings, steps: int) -> SpeedPlan:
    """The speed plan of ``cfg.speed`` on CPU for a run of ``steps`` optimiser steps, without the
    switches that do not apply to this model (no 2-d convolutions, no nn.ReLU modules) and
    without torch.compile (measured 1.03x here, for ≈ 40 s of compilation per unit)."""
    plan = plan_for(cfg.speed, "cpu", steps)
    if cfg.speed == "plain":
        return plan
    return dataclasses.replace(plan, channels_last=False, fast_deconv=False, inplace_relu=False, compile=False,
                               notes=("torch.compile off: 1.03x for this model",))


def train_vae(video: np.ndarray, audio: np.ndarray, train: np.ndarray, val: np.ndarray, variant: str,
              strategies: list[int], seeds: list[int], cfg: VAESettings | None = None,
              progress: Progress | None = None) -> tuple[CrossModalVAE, dict[str, np.ndarray]]:
    """Train M = len(seeds) β-VAEs (member i: seed ``seeds[i]``, β strategy ``strategies[i]``) on
    rows ``train`` of ``video`` (N, 30, Cv) and ``audio`` (N, 30, Ca). Returns the model (eval
    mode) and the history: ``train_acc``, ``val_acc``, ``loss``, ``kl_v``, ``kl_a``, ``beta`` (epochs, M)."""
    cfg = cfg or VAESettings()
    m = len(seeds)
    torch.manual_seed(seeds[0] * 1000 + m)
    model = CrossModalVAE(m, variant, video.shape[2], audio.shape[2])
    v_all, a_all = torch.as_tensor(video), torch.as_tensor(audio)
    betas = np.stack([Thesis(strategy=s).values(np.arange(cfg.epochs)) for s in strategies], 1)
    cap = Capacity(c_max=cfg.capacity_max, length=cfg.capacity_epochs).values(np.arange(cfg.epochs))
    steps = -(-len(train) // cfg.batch_size)
    speed = Speed(vae_speed_plan(cfg, cfg.epochs * steps), torch.device("cpu"))
    opt = speed.adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, cfg.max_lr, total_steps=cfg.epochs * steps)
             if cfg.onecycle else None)
    rng = np.random.default_rng([seeds[0], m, 1])
    gen = torch.Generator().manual_seed(seeds[0])
    params = list(model.parameters())
    hist = {k: np.zeros((cfg.epochs, m)) for k in ("train_acc", "val_acc", "loss", "kl_v", "kl_a", "beta")}
    for e in range(cfg.epochs):
        model.train()
        beta = torch.as_tensor(betas[e], dtype=torch.float32)
        acc_sum, loss_sum, kv_sum, ka_sum, count = 0.0, 0.0, 0.0, 0.0, 0
        for idx in _batches(len(train), cfg.batch_size, rng):
            rows = train[idx]
            v, a = _gather(v_all, rows, m), _gather(a_all, rows, m)
            with speed.autocast():
                out = to_float32(model(v, a, generator=gen))
            kv = kl_per_member(out["mu_v"], out["logvar_v"], cfg.kl_reduction)
            ka = kl_per_member(out["mu_a"], out["logvar_a"], cfg.kl_reduction)
            recon = (out["v_hat"] - v).pow(2).mean((1, 2, 3)) + (out["a_hat"] - a).pow(2).mean((1, 2, 3))
            loss = recon + beta * cfg.gamma * ((kv - cap[e]).abs() + (ka - cap[e]).abs())
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            clip_per_member(params, m, cfg.clip)
            opt.step()
            if sched is not None:
                sched.step()
            with torch.no_grad():
                acc = 0.5 * (cosine_rows(out["v_hat"], v) + cosine_rows(out["a_hat"], a))
                acc_sum = acc_sum + acc.sum(1)
                loss_sum = loss_sum + loss.detach() * len(rows)
                kv_sum, ka_sum = kv_sum + kv.detach() * len(rows), ka_sum + ka.detach() * len(rows)
                count += len(rows)
        hist["train_acc"][e] = (acc_sum / count).numpy()
        hist["loss"][e], hist["kl_v"][e], hist["kl_a"][e] = ((x / count).numpy() for x in (loss_sum, kv_sum, ka_sum))
        hist["beta"][e] = betas[e]
        with speed.autocast():
            hist["val_acc"][e] = reconstruction_accuracy(model, video, audio, val, sample=True, generator=gen)
        if progress:
            progress("vae", 1)
    model.eval()
    return model, hist


@torch.no_grad()
def reconstruction_accuracy(model: CrossModalVAE, video: np.ndarray, audio: np.ndarray, rows: np.ndarray,
                            sample: bool, generator: torch.Generator | None = None, batch: int = 2048) -> np.ndarray:
    """Per member ½(acc_v + acc_a), acc = mean cosine of flattened input and reconstruction
    (eval mode; z sampled or z = μ): (M,)."""
    model.eval()
    total = 0.0
    for i in range(0, len(rows), batch):
        r = rows[i:i + batch]
        v = _gather(torch.as_tensor(video), r, model.m)
        a = _gather(torch.as_tensor(audio), r, model.m)
        out = to_float32(model(v, a, sample=sample, generator=generator))
        total = total + (0.5 * (cosine_rows(out["v_hat"], v) + cosine_rows(out["a_hat"], a))).sum(1)
    return (total / max(len(rows), 1)).numpy()


@torch.no_grad()
def latents(model: CrossModalVAE, video: np.ndarray, audio: np.ndarray, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """μ_v and μ_a of every row, in row order (eval mode): (M, N, z) each."""
    model.eval()
    mv, ma = [], []
    for i in range(0, len(video), batch):
        r = np.arange(i, min(i + batch, len(video)))
        mu_v, _, mu_a, _ = model.encode(_gather(torch.as_tensor(video), r, model.m),
                                        _gather(torch.as_tensor(audio), r, model.m))
        mv.append(mu_v)
        ma.append(mu_a)
    return torch.cat(mv, 1).numpy(), torch.cat(ma, 1).numpy()


@torch.no_grad()
def decode_audio(model: CrossModalVAE, z: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Audio features (M, N, 30, Ca) decoded from audio latents z (M, N, z)."""
    model.eval()
    return torch.cat([model.dec_a(torch.as_tensor(z[:, i:i + batch], dtype=torch.float32))
                      for i in range(0, z.shape[1], batch)], 1).numpy()


def train_translator(x: np.ndarray, y: np.ndarray, train: np.ndarray, seeds: list[int],
                     cfg: TranslatorSettings | None = None, progress: Progress | None = None,
                     lr: float | None = None) -> Seq2Seq:
    """Train M translators on rows ``train``: ``x`` (M, N, T_in, d_in) → ``y`` (M, N, T_out, d_out)."""
    cfg = cfg or TranslatorSettings()
    m = x.shape[0]
    torch.manual_seed(seeds[0] * 1000 + 7 * m + 1)
    if cfg.decoder_input == "target":
        log.warning("decoder_input=target feeds the true audio latent to the decoder (flaw F6): "
                    "a forensic reproduction, not a translation result")
    model = Seq2Seq(m, x.shape[3], y.shape[3], cfg.hidden, y.shape[2], cfg.decoder_input)
    opt = torch.optim.Adam(model.parameters(), lr=lr or cfg.lr, eps=1e-7)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)  # copies
    rng = np.random.default_rng([seeds[0], m, 3])
    for _ in range(cfg.epochs):
        for idx in _batches(len(train), cfg.batch_size, rng):
            r = torch.as_tensor(train[idx])
            target = yt[:, r]
            pred = model(xt[:, r], target)
            loss = (pred - target).pow(2).mean((1, 2, 3))
            if cfg.loss == "mse+cos":
                loss = loss + (1 - cosine_rows(pred, target)).mean(1)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
        if progress:
            progress("translator", 1)
    return model.eval()


@torch.no_grad()
def translate(model: Seq2Seq, x: np.ndarray, target: np.ndarray | None = None, batch: int = 4096) -> np.ndarray:
    """(M, N, T_out, d_out) predictions for inputs (M, N, T_in, d_in) in evaluation mode; ``target``
    (M, N, T_out, d_out) is read only by the forensic ``decoder_input=target``."""
    model.eval()
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(target, dtype=torch.float32) if model.decoder_input == "target" else None
    return torch.cat([model(xt[:, i:i + batch], None if yt is None else yt[:, i:i + batch])
                      for i in range(0, xt.shape[1], batch)], 1).numpy()
