"""Per-latent β: a weight for every latent, fixed, scheduled, or adapted to latent correlations.

loss = R + Σ_j β_j(t)·KL_j, KL_j the batch mean of latent j's KL, with

    β_j(t) = clip(β_base(t) · w_j · (1 + λ·s_j(t)), β_min, β_max)

- β_base: any schedule; w: a fixed vector (default all ones), so ``adapt: none`` gives a fixed or
  scheduled vector β.
- ``adapt: correlation`` (project definition, spec §3.4, answering the research-gap note's "no
  per-latent β that reacts to correlations between latents"): every ``update_every`` steps,
  ρ = correlation matrix of the batch posterior means μ (B ≥ 2D advised) and
  s_j ← η·s_j + (1 − η)·agg_{i≠j} |ρ_ij| (agg = max or mean; η = ``ema``). Optionally only
  active latents (batch-mean KL_j > ``active_threshold``) take part: an inactive latent neither
  contributes to others' s nor receives a signal. For the first ``t_warm`` steps s is updated but
  not used (β_j = β_base·w_j). s is a buffer (checkpointed) and carries no gradient.

A latent whose posterior mean moves with another's gets a larger KL weight, pressing it towards
the prior until it stops duplicating the other (or carries something else).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, PositiveInt, model_validator

from betavae.bounds import NonNegative
from betavae.errors import BetavaeError
from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import Objective, ObjectiveConfig
from betavae.schedules import Constant, WeightField


def abs_correlation(mu: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """|Pearson correlation| of the columns of μ (B, D) -> (D, D), zero diagonal, no gradient."""
    c = mu.detach().float() - mu.detach().float().mean(0)
    cov = c.T @ c / max(mu.shape[0] - 1, 1)
    std = cov.diagonal().clamp_min(0).sqrt() + eps
    rho = (cov / std[:, None] / std[None, :]).abs()
    return rho.fill_diagonal_(0.0)


class PerLatentObjective(Objective):
    """Logs ``beta.<j>`` (the weight each latent got this step) and ``signal.<j>`` (s_j)."""

    def __init__(self, config: PerLatentConfig, likelihood: Likelihood, latent_dim: int) -> None:
        super().__init__(config, likelihood, latent_dim)
        if config.weights is not None and len(config.weights) != latent_dim:
            raise BetavaeError(f"objective.weights has {len(config.weights)} entries but model.latent_dim is {latent_dim}")
        weights = torch.tensor(config.weights if config.weights is not None else [1.0] * latent_dim)
        self.register_buffer("weights", weights, persistent=False)
        self.register_buffer("signal", torch.zeros(latent_dim))
        self._update = self._adapting = False

    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        c = self.config
        self._update = c.adapt != "none" and step % c.update_every == 0
        self._adapting = c.adapt != "none" and step >= c.t_warm
        return {"beta": c.beta.at(step, epoch)}

    @torch.no_grad()
    def update_signal(self, mu: torch.Tensor, kl_mean: torch.Tensor) -> None:
        """s ← η·s + (1 − η)·agg_{i≠j} |ρ_ij| from this batch's posterior means."""
        c = self.config
        rho = abs_correlation(mu)
        if c.active_only:
            active = (kl_mean.detach() > c.active_threshold).float()
            rho = rho * active[:, None] * active[None, :]
        d = rho.shape[0]
        agg = rho.amax(1) if c.agg == "max" else rho.sum(1) / max(d - 1, 1)
        self.signal.mul_(c.ema).add_((1.0 - c.ema) * agg.to(self.signal.dtype))

    def betas(self, beta_base: float) -> torch.Tensor:
        """β_j for this step: (D,)."""
        c = self.config
        factor = 1.0 + c.lam * self.signal if self._adapting else torch.ones_like(self.signal)
        return (beta_base * self.weights * factor).clamp(c.beta_min, c.beta_max)

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        terms = self.base_terms(out, x)
        kl_mean = terms["kl_per_dim"].mean(0)
        if self._update:
            self.update_signal(out.mu, kl_mean)
        betas = self.betas(hyper["beta"])
        terms["loss"] = terms["recon"] + (betas * kl_mean).sum()
        for j in range(self.latent_dim):
            terms[f"beta.{j}"] = betas[j]
            if self.config.adapt != "none":
                terms[f"signal.{j}"] = self.signal[j].clone()
        return terms


@OBJECTIVES.register("per_latent")
class PerLatentConfig(ObjectiveConfig):
    """Per-latent β (see the module docstring for the rule). Defaults: β_base = 4, λ = 1, η = 0.99."""

    kind: Literal["per_latent"] = "per_latent"
    beta: WeightField = Field(default_factory=lambda: Constant(value=4.0))
    weights: list[NonNegative] | None = None
    adapt: Literal["none", "correlation"] = "correlation"
    lam: float = Field(1.0, ge=0.0)
    ema: float = Field(0.99, ge=0.0, lt=1.0)
    agg: Literal["max", "mean"] = "max"
    update_every: PositiveInt = 1
    t_warm: int = Field(0, ge=0)
    beta_min: float = Field(0.0, ge=0.0)
    beta_max: float = Field(1e6, gt=0.0)
    active_only: bool = False
    active_threshold: float = Field(0.01, ge=0.0)

    @model_validator(mode="after")
    def _check(self) -> PerLatentConfig:
        if self.beta_min > self.beta_max:
            raise ValueError(f"beta_min ({self.beta_min}) exceeds beta_max ({self.beta_max})")
        if self.weights is not None and any(w < 0 for w in self.weights):
            raise ValueError("weights must be non-negative")
        return self

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return PerLatentObjective(self, likelihood, latent_dim)
