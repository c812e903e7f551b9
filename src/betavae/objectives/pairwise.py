"""Pairwise β: a penalty on the Gaussian mutual information of every pair of latents (spec §3.4).

Project definition (not a reproduction), answering the research-gap note's "no pairwise β that
reacts to correlations between latents":

    loss = R + β(t)·KL + Σ_{i<j} λ_ij(t)·I_ij,     I_ij = −½·log(1 − ρ̂_ij² + ε)

- ρ̂: the batch Pearson correlation (D × D) of the posterior means μ (``source: mu``) or of the
  samples z (``source: z``); differentiable, so the penalty pushes the encoder to decorrelate.
  I_ij is the mutual information (nats) of two jointly Gaussian variables with correlation ρ̂_ij.
- ``adapt: correlation``: λ_ij = λ_pair·a_ij with a_ij ← η·a_ij + (1 − η)·|ρ̂_ij| every step (the
  update comes first, from this batch; a starts at 0; η = ``ema``). a is a checkpointed buffer
  and carries no gradient, so λ is a weight, not a path for the gradient.
- ``adapt: none``: the non-adaptive baseline, λ_ij = λ_pair.

Logged: ``pair_mi`` (Σ_{i<j} I_ij), ``pair_penalty`` (Σ_{i<j} λ_ij·I_ij) and ``pair_lambda_max``.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import Objective, ObjectiveConfig
from betavae.schedules import Constant, WeightField


def batch_correlation(v: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of the columns of ``v`` (B, D) -> (D, D), differentiable.

    ρ_ij = cov_ij / √(var_i·var_j + eps); eps keeps the gradient finite for a constant column
    (whose correlations are then 0).
    """
    c = v.float() - v.float().mean(0)
    cov = c.T @ c / max(v.shape[0] - 1, 1)
    var = cov.diagonal()
    return cov / torch.sqrt(var[:, None] * var[None, :] + eps)


def gaussian_pair_mi(rho: torch.Tensor, eps: float) -> torch.Tensor:
    """I = −½·log(1 − ρ² + ε) elementwise (nats); 0 at ρ = 0, −½·log ε at |ρ| = 1.

    Computed in float64 (a D × D tensor: cheap), so both ends keep their precision: ε next to 1
    at ρ = 0 and ε next to 1 − ρ² at |ρ| = 1 are lost in float32.
    """
    r = rho.double()
    return (-0.5 * torch.log1p(eps - r * r)).to(rho.dtype)


class PairwiseObjective(Objective):
    def __init__(self, config: PairwiseConfig, likelihood: Likelihood, latent_dim: int) -> None:
        super().__init__(config, likelihood, latent_dim)
        self.register_buffer("ema_abs_rho", torch.zeros(latent_dim, latent_dim))
        self.register_buffer("upper", torch.ones(latent_dim, latent_dim).triu(1).bool(), persistent=False)

    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        return {"beta": self.config.beta.at(step, epoch)}

    def pair_weights(self, rho: torch.Tensor) -> torch.Tensor:
        """λ (D, D) for this step, after the EMA update from ``rho`` (no gradient)."""
        c = self.config
        if c.adapt == "none":
            return torch.full_like(self.ema_abs_rho, c.lam_pair)
        with torch.no_grad():
            self.ema_abs_rho.mul_(c.ema).add_((1.0 - c.ema) * rho.detach().abs().to(self.ema_abs_rho.dtype))
        return c.lam_pair * self.ema_abs_rho.clone()

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        c = self.config
        terms = self.base_terms(out, x)
        rho = batch_correlation(out.mu if c.source == "mu" else out.z)
        mi = gaussian_pair_mi(rho[self.upper], c.eps)  # the D(D−1)/2 pairs i < j
        lam = self.pair_weights(rho)[self.upper]
        penalty = (lam * mi).sum()
        terms["loss"] = terms["recon"] + hyper["beta"] * terms["kl"] + penalty
        terms["pair_mi"] = mi.sum().detach()
        terms["pair_penalty"] = penalty.detach()
        terms["pair_lambda_max"] = lam.max() if lam.numel() else torch.zeros((), device=rho.device)
        return terms


@OBJECTIVES.register("pairwise")
class PairwiseConfig(ObjectiveConfig):
    """Pairwise β (see the module docstring). Defaults: β = 4, λ_pair = 1, η = 0.99, ε = 1e-6, on μ."""

    kind: Literal["pairwise"] = "pairwise"
    beta: WeightField = Field(default_factory=lambda: Constant(value=4.0))
    lam_pair: float = Field(1.0, ge=0.0)
    adapt: Literal["correlation", "none"] = "correlation"
    ema: float = Field(0.99, ge=0.0, lt=1.0)
    source: Literal["mu", "z"] = "mu"
    eps: float = Field(1e-6, gt=0.0)

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return PairwiseObjective(self, likelihood, latent_dim)
