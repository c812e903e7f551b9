"""The two-modality conv1d β-VAE of Bangarwaa (2025) as coded (spec/crossmodal.md §5), as a batched ensemble.

``M`` independent members share one set of stacked weights (leading dimension M): linear layers
and the kernel-3 convolutions are batched matrix products ``(M, rows, in) @ (M, in, out)`` on
channels-last activations (M, B, T, C), and BatchNorm normalises each member's channels
separately. It is the same model as the reference up to a fixed permutation of the flatten order before the
first linear layer (time-major instead of channel-major), which random initialisation makes
immaterial. The ensemble loss is the *sum* of
the members' losses, so each member's gradient is the one it would get alone.

Variants (flaw F1): ``joint`` (the reference): the four heads μ_v, logσ²_v, μ_a, logσ²_a read
concat(video_enc, audio_enc), so the video latent carries audio; ``separate`` (the spec's
``latent_source=unimodal``, default): the video heads read only the video encoder, the audio
heads only the audio encoder. Inputs are (M, B, 30, C); the reference model has 1,319,862
parameters (M = 1, joint).

Registered as model kind ``crossmodal`` (:class:`CrossModalVAEConfig`), trained by the
``audiovisual`` task (:mod:`betavae.train.tasks.audiovisual`). The inference helpers at the end
(:func:`reconstruction_accuracy`, :func:`latents`, :func:`decode_audio`) are what the task's
validation accuracy and the study's measures call.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from betavae.models import MODELS
from betavae.models.base import ModelConfig
from betavae.train.speed import to_float32

VARIANTS = ("separate", "joint")


class EnsLinear(nn.Module):
    """M stacked linear layers: (M, B, in) → (M, B, out), PyTorch's default initialisation."""

    def __init__(self, m: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(m, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(m, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsConv(nn.Module):
    """M Conv1d(c_in → c_out, kernel 3, padding 1) on channels-last (M, B, T, c_in) → (M, B, T, c_out),
    as one batched matmul over the three shifted copies (PyTorch's default initialisation)."""

    def __init__(self, m: int, c_in: int, c_out: int) -> None:
        super().__init__()
        self.lin = EnsLinear(m, 3 * c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, b, t, c = x.shape
        xp = nn.functional.pad(x, (0, 0, 1, 1))
        cols = torch.cat([xp[:, :, :-2], xp[:, :, 1:-1], xp[:, :, 2:]], -1)  # (M, B, T, 3c)
        return self.lin(cols.reshape(m, b * t, 3 * c)).reshape(m, b, t, -1)


class _BatchNormTrain(torch.autograd.Function):
    """Training-mode batch norm over dims (1, 2) of (M, B, T, C) with a hand-written backward.

    Statistics and gradients are computed in float32 whatever the input dtype (bf16 under
    autocast); the output has the input's dtype. Autograd of the composed expression makes ≈ 25
    passes over the activations, this ≈ 12 (the layer is memory-bound on CPU). Returns the output
    and the batch mean and (biased) variance (M, 1, 1, C) for the running statistics.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):  # noqa: ANN001, ANN205
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        mean = xf.mean((1, 2), keepdim=True)
        centred = xf - mean
        var = centred.pow(2).mean((1, 2), keepdim=True)
        rstd = torch.rsqrt(var + eps)
        xhat = centred.mul_(rstd)
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.in_dtype = x.dtype
        return torch.addcmul(bias, xhat, weight).to(x.dtype), mean, var

    @staticmethod
    def backward(ctx, grad, _gmean, _gvar):  # noqa: ANN001, ANN205
        xhat, rstd, weight = ctx.saved_tensors
        g = grad.to(xhat.dtype)
        n = g.shape[1] * g.shape[2]
        dbias = g.sum((1, 2), keepdim=True)
        dweight = (g * xhat).sum((1, 2), keepdim=True)
        # dx = w·rstd·(g − mean(g) − x̂·mean(g·x̂))
        dx = (g - dbias / n).sub_(xhat * (dweight / n)).mul_(weight * rstd)
        return dx.to(ctx.in_dtype), dweight, dbias, None


class EnsBatchNorm(nn.Module):
    """BatchNorm1d per member and channel over (batch, time) of (M, B, T, C); momentum 0.1, ε 1e-5."""

    def __init__(self, m: int, c: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(m, 1, 1, c))
        self.bias = nn.Parameter(torch.zeros(m, 1, 1, c))
        self.register_buffer("running_mean", torch.zeros(m, 1, 1, c))
        self.register_buffer("running_var", torch.ones(m, 1, 1, c))
        self.momentum, self.eps = momentum, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            scale = self.weight * torch.rsqrt(self.running_var + self.eps)
            xf = x.to(torch.promote_types(x.dtype, torch.float32))
            return torch.addcmul(self.bias - self.running_mean * scale, xf, scale).to(x.dtype)
        y, mean, var = _BatchNormTrain.apply(x, self.weight, self.bias, self.eps)
        n = x.shape[1] * x.shape[2]
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
        return y


def upsample_matrix(t: int) -> torch.Tensor:
    """The (2t, t) matrix of ``nn.Upsample(scale_factor=2, mode="linear")`` (align_corners=False):
    output 2i = ¾·x_i + ¼·x_{i−1}, 2i+1 = ¾·x_i + ¼·x_{i+1}, edges clamped."""
    u = torch.zeros(2 * t, t)
    for i in range(t):
        u[2 * i, i] += 0.75
        u[2 * i, max(i - 1, 0)] += 0.25
        u[2 * i + 1, i] += 0.75
        u[2 * i + 1, min(i + 1, t - 1)] += 0.25
    return u


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """``nn.Upsample(scale_factor=2, mode="linear")`` along T of (M, B, T, C), as one matmul with
    :func:`upsample_matrix` (2-3x faster on CPU than gathering and interleaving neighbours)."""
    return torch.matmul(upsample_matrix(x.shape[2]).to(x.dtype), x)


class Encoder(nn.Module):
    """Conv1d c→h1 → BN → ReLU → Conv1d h1→h2 → BN → ReLU → MaxPool(2) → Linear(15·h2 → d) → ReLU → Linear(d → 32)."""

    def __init__(self, m: int, c: int, h1: int, h2: int, d: int, steps: int = 30) -> None:
        super().__init__()
        self.conv1, self.bn1 = EnsConv(m, c, h1), EnsBatchNorm(m, h1)
        self.conv2, self.bn2 = EnsConv(m, h1, h2), EnsBatchNorm(m, h2)
        self.fc1, self.fc2 = EnsLinear(m, h2 * (steps // 2), d), EnsLinear(m, d, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))  # (M, B, T, h2)
        m, b, t, c = h.shape
        h = h.reshape(m, b, t // 2, 2, c).amax(3)  # MaxPool1d(2)
        return self.fc2(torch.relu(self.fc1(h.reshape(m, b, -1))))


class Decoder(nn.Module):
    """z → Linear d → ReLU → Linear 15·h2 → ReLU → (15, h2) → Upsample ×2 → Conv h2→h1 → ReLU → Conv h1→c → Sigmoid."""

    def __init__(self, m: int, z: int, c: int, h1: int, h2: int, d: int, steps: int = 30) -> None:
        super().__init__()
        self.h2, self.half = h2, steps // 2
        self.fc1, self.fc2 = EnsLinear(m, z, d), EnsLinear(m, d, h2 * self.half)
        self.conv1, self.conv2 = EnsConv(m, h2, h1), EnsConv(m, h1, c)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        m, b, _ = z.shape
        h = torch.relu(self.fc2(torch.relu(self.fc1(z)))).reshape(m, b, self.half, self.h2)
        return torch.sigmoid(self.conv2(torch.relu(self.conv1(upsample2(h)))))  # (M, B, 30, c)


class CrossModalVAE(nn.Module):
    """M two-modality β-VAEs. ``forward(v (M,B,30,Cv), a (M,B,30,Ca))`` returns a dict with
    ``v_hat``, ``a_hat`` (same shapes) and ``mu_v``, ``logvar_v``, ``mu_a``, ``logvar_a`` (M, B, z)."""

    def __init__(self, m: int = 1, variant: str = "separate", cv: int = 17, ca: int = 5,
                 z_video: int = 8, z_audio: int = 8) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}")
        self.m, self.variant, self.zv, self.za = m, variant, z_video, z_audio
        self.enc_v, self.enc_a = Encoder(m, cv, 64, 128, 256), Encoder(m, ca, 32, 64, 128)
        if variant == "joint":
            self.heads = EnsLinear(m, 64, 2 * (z_video + z_audio))
        else:
            self.head_v, self.head_a = EnsLinear(m, 32, 2 * z_video), EnsLinear(m, 32, 2 * z_audio)
        self.dec_v, self.dec_a = Decoder(m, z_video, cv, 64, 128, 256), Decoder(m, z_audio, ca, 32, 64, 128)

    def posterior(self, v: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(μ_v, logσ²_v, μ_a, logσ²_a), each (M, B, z)."""
        hv, ha = self.enc_v(v), self.enc_a(a)
        if self.variant == "joint":
            return tuple(self.heads(torch.cat([hv, ha], -1)).split([self.zv, self.zv, self.za, self.za], -1))
        return (*self.head_v(hv).split(self.zv, -1), *self.head_a(ha).split(self.za, -1))

    def encode(self, v: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Same as :meth:`posterior`."""
        return self.posterior(v, a)

    def encode_video(self, v: torch.Tensor) -> torch.Tensor:
        """μ_v from video alone (``separate`` only): (M, B, z)."""
        if self.variant == "joint":
            raise ValueError("the joint variant's video latent needs the audio input too")
        return self.head_v(self.enc_v(v))[..., : self.zv]

    def forward(self, v: torch.Tensor, a: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        mu_v, lv_v, mu_a, lv_a = self.posterior(v, a)
        zv, za = mu_v, mu_a
        if sample:  # the reference samples in eval mode too
            zv = mu_v + torch.randn(mu_v.shape, generator=generator, device=mu_v.device) * torch.exp(0.5 * lv_v)
            za = mu_a + torch.randn(mu_a.shape, generator=generator, device=mu_a.device) * torch.exp(0.5 * lv_a)
        return {"v_hat": self.dec_v(zv), "a_hat": self.dec_a(za), "mu_v": mu_v, "logvar_v": lv_v,
                "mu_a": mu_a, "logvar_a": lv_a}


class CrossModalMember(CrossModalVAE):
    """One trained member (M = 1) as a loaded run offers it (:func:`betavae.load_run`): tensors
    without the member axis, the two modalities side by side on the feature axis, so that
    ``x`` (B, 30, Cv + Ca) = concat(video (B, 30, Cv), audio (B, 30, Ca)) and
    ``z`` (B, z_video + z_audio) = concat(z_v, z_a).

    ``encode(x)`` gives the posterior means and log-variances (B, z_video + z_audio) each;
    ``decode(z)`` the reconstructions (B, 30, Cv + Ca) in [0, 1]; ``predict(x)`` the β-VAE's
    reconstruction of its inputs at z = μ (the model alone cannot translate: video → audio is
    the translator's job, trained on its latents by the ``audiovisual`` evaluator). Training and
    the study's helpers use :meth:`~CrossModalVAE.posterior` (member axis, two inputs)."""

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cv = self.enc_v.conv1.lin.weight.shape[1] // 3
        if x.dim() != 3 or x.shape[2] != cv + self.enc_a.conv1.lin.weight.shape[1] // 3:
            raise ValueError(f"expected (B, T, {cv} video + audio features) concatenated, got {tuple(x.shape)}")
        return x[None, :, :, :cv], x[None, :, :, cv:]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        mu_v, lv_v, mu_a, lv_a = self.posterior(*self._split(x))
        return torch.cat([mu_v, mu_a], -1)[0], torch.cat([lv_v, lv_a], -1)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        zv, za = z[None, :, : self.zv], z[None, :, self.zv:]
        return torch.cat([self.dec_v(zv), self.dec_a(za)], -1)[0]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])


def cosine_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of flattened samples: (M, B, ...) → (M, B)."""
    return nn.functional.cosine_similarity(x.flatten(2), y.flatten(2), dim=-1)


def gather(x: torch.Tensor, rows: np.ndarray | torch.Tensor, m: int) -> torch.Tensor:
    """Rows ``rows`` of a shared (N, ...) tensor, repeated (a view) for M members: (M, B, ...)."""
    return x[torch.as_tensor(rows)].unsqueeze(0).expand(m, *([-1] * x.dim()))


@torch.no_grad()
def reconstruction_accuracy(model: CrossModalVAE, video: np.ndarray | torch.Tensor, audio: np.ndarray | torch.Tensor,
                            rows: np.ndarray, sample: bool, generator: torch.Generator | None = None,
                            batch: int = 2048) -> np.ndarray:
    """Per member ½(acc_v + acc_a), acc = mean cosine of flattened input and reconstruction
    (eval mode; z sampled from ``generator`` or z = μ) over ``rows`` of video (N, 30, Cv) and
    audio (N, 30, Ca): (M,)."""
    model.eval()
    video, audio = torch.as_tensor(video), torch.as_tensor(audio)
    total = 0.0
    for i in range(0, len(rows), batch):
        r = rows[i:i + batch]
        v, a = gather(video, r, model.m), gather(audio, r, model.m)
        out = to_float32(model(v, a, sample=sample, generator=generator))
        total = total + (0.5 * (cosine_rows(out["v_hat"], v) + cosine_rows(out["a_hat"], a))).sum(1)
    return (total / max(len(rows), 1)).cpu().numpy()


@torch.no_grad()
def latents(model: CrossModalVAE, video: np.ndarray, audio: np.ndarray, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """μ_v and μ_a of every row, in row order (eval mode): (M, N, z) each."""
    model.eval()
    mv, ma = [], []
    for i in range(0, len(video), batch):
        r = np.arange(i, min(i + batch, len(video)))
        mu_v, _, mu_a, _ = model.posterior(gather(torch.as_tensor(video), r, model.m),
                                        gather(torch.as_tensor(audio), r, model.m))
        mv.append(mu_v)
        ma.append(mu_a)
    return torch.cat(mv, 1).numpy(), torch.cat(ma, 1).numpy()


@torch.no_grad()
def decode_audio(model: CrossModalVAE, z: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Audio features (M, N, 30, Ca) decoded from audio latents z (M, N, z)."""
    model.eval()
    return torch.cat([model.dec_a(torch.as_tensor(z[:, i:i + batch], dtype=torch.float32))
                      for i in range(0, z.shape[1], batch)], 1).numpy()


@MODELS.register("crossmodal")
class CrossModalVAEConfig(ModelConfig):
    """The two-modality β-VAE: ``variant`` separate (default) or joint (flaw F1), 8 + 8 latents.

    ``build(m, cv, ca)`` gives M stacked members for Cv video and Ca audio features per step."""

    task: ClassVar[str] = "audiovisual"
    kind: Literal["crossmodal"] = "crossmodal"
    variant: Literal["separate", "joint"] = "separate"
    z_video: int = Field(8, ge=1)
    z_audio: int = Field(8, ge=1)

    def build(self, m: int, cv: int, ca: int) -> CrossModalVAE:
        return CrossModalVAE(m, self.variant, cv, ca, self.z_video, self.z_audio)
