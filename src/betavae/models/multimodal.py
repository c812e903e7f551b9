"""The multimodal VAE of Zambelli et al. (2020, §3) as a batched ensemble of E independent models.

Every weight is stacked along a leading ensemble axis, W: (E, fan_in, fan_out), b: (E, 1, fan_out),
and every layer is one batched matmul (``torch.baddbmm``), so E models cost one set of kernel
launches; E = 1 is one model. Members share no parameters and no randomness: member k is
initialised from its own seed, so it equals a model built alone from that seed.

Shapes: inputs x (E, B, D) (or (B, D), broadcast to every member); latent (E, B, n_z).
The model knows nothing of the KL weight; :mod:`betavae.objectives.multimodal` owns the objective.
:class:`ZambelliConfig` (``model.kind: zambelli``) is its run config; the ``sensorimotor`` task
(:mod:`betavae.train.tasks.sensorimotor`) trains it, K members as one stack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from betavae.data.sensorimotor_layout import Layout, reference_layout
from betavae.errors import BetavaeError
from betavae.models import MODELS
from betavae.models.base import ModelConfig
from betavae.multimodal.settings import MEASURES, MeasureSettings

VAR_FLOOR = 1e-4
#: model.precision -> the dtype of the weights (bf16: float32 weights, bfloat16 autocast of the matmuls)
DTYPES = {"float64": torch.float64, "float32": torch.float32, "bf16": torch.float32}
SHARED_ENC = 100
SHARED_DEC = (100, 70)


def _uniform(shape: tuple[int, ...], bound: float, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2.0 - 1.0).mul_(bound).to(dtype)


LOG_FLOOR = math.log(VAR_FLOOR)


def floor_logvar(h: torch.Tensor) -> torch.Tensor:
    """log σ² with σ² = exp(h) + 1e-4 (the reference's variance floor), computed stably as
    log 1e-4 + softplus(h − log 1e-4); softplus turns linear only past 40, where the relative
    error e^−40 is below float64 resolution. (2.5x cheaper than ``torch.logaddexp`` on CPU.)"""
    return torch.nn.functional.softplus(h - LOG_FLOOR, threshold=40.0) + LOG_FLOOR


class EnsembleVAE(nn.Module):
    """E stacked copies of the Zambelli et al. (2020) multimodal VAE (29,150 parameters each).

    Encoder: one MLP per modality (ReLU after each layer), concatenated, shared layer 60→100 ReLU,
    heads μ_z and log σ²_z (n_z = 28). Decoder: z→100→70 ReLU, split per modality, one MLP per
    modality (ReLU after each layer), heads μ_x and log σ²_x per modality. Each head pair is
    stored as one (fan_in, 2·out) matrix whose halves are initialised separately.
    Init: U(±√(1/(fan_in+fan_out))) weights, zero biases (reference).
    """

    def __init__(self, seeds: Sequence[int], layout: Layout | None = None, n_z: int = 28,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.layout = layout or reference_layout()
        self.n_z = n_z
        self.seeds = [int(s) for s in seeds]
        self.params = nn.ParameterDict()
        self._shapes: list[tuple[str, int, tuple[int, ...]]] = []  # (name, fan_in, outs)
        mods = self.layout.modalities
        for m in mods:
            self._mlp(f"enc_{m.name}", (m.dims, *m.encoder))
        self._mlp("enc_shared", (sum(m.encoder[-1] for m in mods), SHARED_ENC))
        self._add("enc_head", SHARED_ENC, (n_z, n_z))
        split = [m.decoder[0] for m in mods]
        self._mlp("dec_shared", (n_z, SHARED_DEC[0], sum(split)))
        for m in mods:
            self._mlp(f"dec_{m.name}", (*m.decoder, m.dims))
            self._add(f"dec_{m.name}_head", m.dims, (m.dims, m.dims))
        self.split = split
        tensors = [self._init_member(s, dtype) for s in self.seeds]
        for key in tensors[0]:
            self.params[key] = nn.Parameter(torch.stack([t[key] for t in tensors]))

    # ---------------------------------------------------------------- construction
    def _add(self, name: str, fan_in: int, outs: tuple[int, ...]) -> None:
        self._shapes.append((name, fan_in, outs))

    def _mlp(self, prefix: str, sizes: tuple[int, ...]) -> None:
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            self._add(f"{prefix}_{k}", a, (b,))

    def _init_member(self, seed: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        out = {}
        for name, fan_in, outs in self._shapes:
            parts = [_uniform((fan_in, o), math.sqrt(1.0 / (fan_in + o)), gen, dtype) for o in outs]
            out[f"{name}_w"] = torch.cat(parts, dim=1)
            out[f"{name}_b"] = torch.zeros(1, sum(outs), dtype=dtype)
        return out

    @property
    def size(self) -> int:
        return len(self.seeds)

    def parameters_per_member(self) -> int:
        return sum(p[0].numel() for p in self.params.values())

    # ---------------------------------------------------------------- forward
    def _layer(self, name: str, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
        y = torch.baddbmm(self.params[f"{name}_b"], x, self.params[f"{name}_w"])
        return torch.relu(y) if relu else y

    def _head(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """A linear head whose output is returned in the weights' dtype: under bf16 autocast the
        variance floor, the reparameterisation and the loss then run in float32."""
        return self._layer(name, x, relu=False).to(self.params[f"{name}_w"].dtype)

    def _mlp_forward(self, prefix: str, x: torch.Tensor, n: int) -> torch.Tensor:
        for k in range(n):
            x = self._layer(f"{prefix}_{k}", x)
        return x

    def _broadcast(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(next(iter(self.params.values())).dtype)
        return x.unsqueeze(0).expand(self.size, *x.shape) if x.dim() == 2 else x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (E, B, D) or (B, D) -> μ_z, log σ²_z: (E, B, n_z)."""
        x = self._broadcast(x)
        feats, start = [], 0
        for m in self.layout.modalities:
            feats.append(self._mlp_forward(f"enc_{m.name}", x[..., start:start + m.dims], len(m.encoder)))
            start += m.dims
        h = self._layer("enc_shared_0", torch.cat(feats, dim=-1))
        mu, raw = self._head("enc_head", h).split(self.n_z, dim=-1)
        return mu, floor_logvar(raw)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (E, B, n_z) -> μ_x, log σ²_x: (E, B, D)."""
        h = self._mlp_forward("dec_shared", z, 2)
        mus, raws = [], []
        for m, part in zip(self.layout.modalities, h.split(self.split, dim=-1), strict=True):
            o = self._mlp_forward(f"dec_{m.name}", part, len(m.decoder))
            mu, raw = self._head(f"dec_{m.name}_head", o).split(m.dims, dim=-1)
            mus.append(mu)
            raws.append(raw)
        return torch.cat(mus, dim=-1), floor_logvar(torch.cat(raws, dim=-1))

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Encode, sample z = μ + σ·eps (z = μ when eps is None), decode. Shapes (E, B, ·)."""
        mu_z, logvar_z = self.encode(x)
        z = mu_z if eps is None else mu_z + torch.exp(0.5 * logvar_z) * eps
        mu_x, logvar_x = self.decode(z)
        return {"mu_z": mu_z, "logvar_z": logvar_z, "mu_x": mu_x, "logvar_x": logvar_x}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ_x, log σ²_x) of every member, decoded from z = μ_z: x (B, D) or (E, B, D) -> (E, B, D)."""
        out = self.forward(x)
        return out["mu_x"], out["logvar_x"]

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights, unstacked: {name: tensor} (for safetensors)."""
        return {name: p[k].detach().clone().contiguous() for name, p in self.params.items()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """μ_x decoded from z = μ_z: what the model predicts for a (muted) input, (E, B, D)."""
        return self.reconstruct(x)[0]


class MemberVAE(EnsembleVAE):
    """One model (an ensemble of one) whose methods take and give arrays without the member axis:
    ``encode`` (B, D) -> (B, n_z) each, ``decode`` (B, n_z) -> (B, D) each, ``forward``,
    ``reconstruct`` and ``predict`` likewise. Its parameters (and ``state_dict``, what a run saves)
    are those of :class:`EnsembleVAE` with E = 1: ``params.<name>`` of shape (1, ...)."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = super().encode(x)
        return mu[0], logvar[0]

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = super().decode(z.to(next(iter(self.params.values())).dtype).reshape(1, *z.shape[-2:]))
        return mu[0], logvar[0]


@MODELS.register("zambelli")
class ZambelliConfig(ModelConfig):
    """The multimodal VAE of Zambelli et al. (2020, reference config ``param_id=1``; spec §3).

    ``n_z`` latents; ``precision``: ``float64`` (the reference), ``float32``, or ``bf16``
    (float32 weights and loss, bfloat16 autocast of the matmuls; docs/multimodal.md). The
    modality layout comes from the data (the simulator's reduced arms change it). ``measures``:
    how the run is measured (Langer et al. 2024's reconstructed choices, spec §6; read by the
    sensorimotor evaluator during training, ``train.eval_metrics``, and after it, ``eval.json``).
    """

    task: ClassVar[str] = "sensorimotor"
    kind: Literal["zambelli"] = "zambelli"
    n_z: int = Field(28, ge=1)
    precision: Literal["float64", "float32", "bf16"] = "float64"
    measures: MeasureSettings = Field(default_factory=MeasureSettings)

    def check_eval_metrics(self, names: list[str], eval_every: int | None) -> None:
        """During training the integration measures can be taken (:data:`MEASURES`)."""
        if eval_every is None:
            return
        unknown = [n for n in names if n not in MEASURES]
        if unknown or not names:
            raise BetavaeError(f"{', '.join(unknown) or 'none given'}: a zambelli model is measured during "
                               f"training with {', '.join(MEASURES)}")

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    def build(self, seeds: Sequence[int], layout: Layout | None = None) -> EnsembleVAE:
        """The stacked models of ``seeds`` (member k initialised from ``torch.Generator(seeds[k])``)."""
        return EnsembleVAE(seeds, layout, self.n_z, self.dtype)

    def build_member(self, seed: int, layout: Layout | None = None) -> MemberVAE:
        """One model of ``seed`` with (B, ·) methods (:class:`MemberVAE`); the same weights as
        member ``seed`` of :meth:`build`."""
        return MemberVAE([seed], layout, self.n_z, self.dtype)
