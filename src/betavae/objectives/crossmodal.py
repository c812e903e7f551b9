"""The cross-modal β-VAE's loss (Bangarwaa 2025; spec/crossmodal.md §6–7), for M stacked members.

Per member: MSE_v + MSE_a + β(e)·γ·(|KL_v − C(e)| + |KL_a − C(e)|), with γ = 10, the capacity
C(e) = min(13·e/70, 13) (:class:`~betavae.schedules.Capacity` over epochs) and β(e) one of the
thesis's nine strategies (:class:`~betavae.schedules.Thesis`), chosen per member by
``strategy``. The KL is the reference's: the per-latent Gaussian KL *averaged* over batch and
latent dimensions (``mean_per_dim``), or summed over latents (``sum``).

It keeps the reference's operation order −½·(1 + logσ² − μ² − σ²) instead of calling
:func:`~betavae.objectives.terms.kl_per_latent` (½·(μ² + σ² − logσ² − 1)): the same formula,
but float additions in another order round differently, and the pinned results of the thesis
reproduction (tests/pins) are bit-exact with this order only.
"""

from __future__ import annotations

from typing import ClassVar, Literal, NoReturn

import numpy as np
import torch
from pydantic import Field

from betavae.bounds import NonNegative
from betavae.errors import BetavaeError
from betavae.models.crossmodal import cosine_rows
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import ObjectiveConfig
from betavae.schedules import Capacity, Thesis


def kl_per_member(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "mean_per_dim") -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) of (M, B, z) posteriors: −½·(1 + logσ² − μ² − σ²) averaged over batch
    and latent dims (``mean_per_dim``, the reference), or summed over latents and averaged over the
    batch (``sum``): (M,)."""
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    return kl.mean((1, 2)) if reduction == "mean_per_dim" else kl.sum(2).mean(1)


def crossmodal_terms(out: dict[str, torch.Tensor], v: torch.Tensor, a: torch.Tensor, beta: torch.Tensor,
                     gamma: float, capacity: float, reduction: str) -> dict[str, torch.Tensor]:
    """Every member's terms, each (M,): ``loss``, ``kl_v``, ``kl_a`` and ``train_acc_sum`` (the sum
    over the batch of ½(cos(v̂, v) + cos(â, a)), no gradient). ``out``: the model's output for
    v (M, B, 30, Cv) and a (M, B, 30, Ca); ``beta``: (M,) float32."""
    kv = kl_per_member(out["mu_v"], out["logvar_v"], reduction)
    ka = kl_per_member(out["mu_a"], out["logvar_a"], reduction)
    recon = (out["v_hat"] - v).pow(2).mean((1, 2, 3)) + (out["a_hat"] - a).pow(2).mean((1, 2, 3))
    loss = recon + beta * gamma * ((kv - capacity).abs() + (ka - capacity).abs())
    with torch.no_grad():
        acc = 0.5 * (cosine_rows(out["v_hat"], v) + cosine_rows(out["a_hat"], a))
    return {"loss": loss, "kl_v": kv, "kl_a": ka, "train_acc_sum": acc.sum(1)}


@OBJECTIVES.register("crossmodal")
class CrossModalConfig(ObjectiveConfig):
    """The thesis's loss: β strategy ``strategy`` (1–9; 6 "Gradual Ramp-Up" was chosen), γ, the
    capacity ramp to ``capacity_max`` nats over ``capacity_epochs`` epochs, the KL reduction.

    Members of one ensemble may differ only in ``strategy`` (the loss is computed for all members
    at once). The values come from :meth:`betas` and :meth:`capacities` (per epoch)."""

    #: the training task this objective belongs to (see betavae.train.task)
    task: ClassVar[str] = "audiovisual"
    kind: Literal["crossmodal"] = "crossmodal"
    strategy: int = Field(6, ge=1, le=9)
    gamma: NonNegative = 10.0
    capacity_max: NonNegative = 13.0
    capacity_epochs: int = Field(70, ge=1)
    kl_reduction: Literal["mean_per_dim", "sum"] = "mean_per_dim"

    def build(self, *args: object) -> NoReturn:
        """Not an image objective: the audiovisual task calls :func:`crossmodal_terms` itself."""
        raise BetavaeError("objective.kind=crossmodal trains model.kind=crossmodal (the audiovisual task)")

    def betas(self, epochs: int) -> np.ndarray:
        """β of epochs 0 .. epochs-1 (float64)."""
        return Thesis(strategy=self.strategy).values(np.arange(epochs))

    def capacities(self, epochs: int) -> np.ndarray:
        """C of epochs 0 .. epochs-1 in nats (float64)."""
        return Capacity(c_max=self.capacity_max, length=self.capacity_epochs).values(np.arange(epochs))
