"""The objective of Zambelli et al. (2020) (spec §4), per ensemble member.

For a muted input x̃ with clean target x decoded into (μ, σ²):

    NLL_i = ½ Σ_{d∈M_i} [(x_d − μ_d)²/σ²_d + log σ²_d] + c
    KL    = −½ Σ_j (1 + log σ²_{z,j} − μ²_{z,j} − σ²_{z,j})
    loss  = mean over the batch of [Σ_i NLL_i / d_i + α·KL]

Dividing NLL_i by the slice size d_i weights the reconstruction by modality dimensionality.
The constant c is ``nll_constant``: ``reference`` (7·log 2π for every modality, the reference
code's quirk), ``exact`` ((d_i/2)·log 2π) or ``none``. It changes reported values, not gradients.

α is any schedule of the one catalogue (:mod:`betavae.schedules`); the default is Zambelli's
``kl_weight`` ``constant_0`` (α = 1 − min(e/1000, 1)), evaluated at the 0-based epoch (spec §5).
The KL keeps the reference's operation order, −½ Σ (1 + log σ² − μ² − σ²), rather than
:func:`betavae.objectives.terms.kl_per_latent`'s ½ (μ² + σ² − log σ² − 1): the same formula in
another order gives other bits, and the pinned trajectories (tests/pins) are those of this order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
from pydantic import Field

from betavae.data.sensorimotor_layout import Layout
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import ObjectiveConfig
from betavae.schedules import KLWeight, WeightField

NllConstant = Literal["reference", "exact", "none"]


def column_weights(layout: Layout, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """1/d_i for every column of modality i: (D,)."""
    return torch.cat([torch.full((m.dims,), 1.0 / m.dims, dtype=dtype) for m in layout.modalities])


def nll_offset(layout: Layout, n_z: int, kind: NllConstant) -> float:
    """Σ_i c_i / d_i: the constant added to the weighted reconstruction term."""
    if kind == "none":
        return 0.0
    if kind == "reference":
        return sum(0.5 * (n_z / 2) * math.log(2 * math.pi) / m.dims for m in layout.modalities)
    return len(layout.modalities) * 0.5 * math.log(2 * math.pi)


def gaussian_kl_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over the last axis: (..., n_z) -> (...)."""
    return -0.5 * (1.0 + logvar - mu.square() - logvar.exp()).sum(-1)


def weighted_nll(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_i NLL_i/d_i without the constant: x, μ, log σ² (..., D), weights (D,) -> (...)."""
    terms = 0.5 * ((x - mu).square() * torch.exp(-logvar) + logvar)
    return (terms * weights).sum(-1)


def loss_terms(out: dict[str, torch.Tensor], target: torch.Tensor, alpha: torch.Tensor | float,
               weights: torch.Tensor, offset: float = 0.0) -> dict[str, torch.Tensor]:
    """Per-member terms, each (E,): ``recon`` (weighted NLL incl. constant), ``kl``, ``loss``.

    ``out`` holds μ_x, log σ²_x (E, B, D) and μ_z, log σ²_z (E, B, n_z); target (E, B, D).
    ``alpha`` is a float or an (E,) tensor (one KL weight per member).
    """
    mu_x, logvar_x = out["mu_x"].to(weights.dtype), out["logvar_x"].to(weights.dtype)
    recon = weighted_nll(target, mu_x, logvar_x, weights).mean(-1) + offset
    kl = gaussian_kl_prior(out["mu_z"].to(weights.dtype), out["logvar_z"].to(weights.dtype)).mean(-1)
    return {"recon": recon, "kl": kl, "loss": recon + alpha * kl}


class MultimodalELBO:
    """The objective of K stacked members: ``terms(out, target, alpha)`` gives (K,) terms.

    Holds the column weights 1/d_i (D,) in the weights' dtype and the constant Σ_i c_i/d_i.
    """

    def __init__(self, layout: Layout, n_z: int, nll_constant: NllConstant, dtype: torch.dtype,
                 device: torch.device | str = "cpu") -> None:
        self.weights = column_weights(layout, dtype).to(device)
        self.offset = nll_offset(layout, n_z, nll_constant)

    def alpha_tensor(self, alphas: Sequence[float]) -> torch.Tensor:
        """The members' KL weights as a (K,) tensor in the loss dtype."""
        return torch.tensor(list(alphas), dtype=self.weights.dtype, device=self.weights.device)

    def terms(self, out: dict[str, torch.Tensor], target: torch.Tensor,
              alpha: torch.Tensor | float) -> dict[str, torch.Tensor]:
        """:func:`loss_terms` with this objective's weights and constant: {recon, kl, loss} (K,)."""
        return loss_terms(out, target, alpha, self.weights, self.offset)


@OBJECTIVES.register("multimodal_elbo")
class MultimodalELBOConfig(ObjectiveConfig):
    """Zambelli et al. (2020)'s loss (spec §4): Σ_i NLL_i/d_i + α(epoch)·KL, batch mean.

    ``alpha``: the KL weight, any schedule (default: ``constant_0``, the reference); members of
    one ensemble may follow different schedules. ``nll_constant``: ``reference`` | ``exact`` | ``none``.
    """

    task: ClassVar[str] = "sensorimotor"
    kind: Literal["multimodal_elbo"] = "multimodal_elbo"
    alpha: WeightField = Field(default_factory=lambda: KLWeight(variant="constant_0"))
    nll_constant: NllConstant = "reference"

    def build(self, layout: Layout, n_z: int, dtype: torch.dtype,  # type: ignore[override]
              device: torch.device | str = "cpu") -> MultimodalELBO:
        return MultimodalELBO(layout, n_z, self.nll_constant, dtype, device)
