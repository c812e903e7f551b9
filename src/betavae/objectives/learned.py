"""Learned β, after L-VAE (Mogultay Ozcan, Kalkan & Yarman-Vural 2025, arXiv:2507.02619).

L-VAE learns the relative weights of the reconstruction and KL terms together with the network
and adds a regulariser that keeps either term from dominating. This is the project's definition
in the uncertainty-weighting form L-VAE builds on (Kendall et al. 2018); it is *not* a verified
reproduction of L-VAE's exact regulariser:

    loss = w_R·R + w_K·KL + s_R + s_K + λ_bal·(w_R − w_K)²,   w = exp(−s),  s_R = s_K = 0 at start

and the effective β = w_K / w_R. Without the ``+ s`` terms β would collapse: KL ≥ 0, so the loss
falls without bound as w_K → 0. With them, for fixed R and KL the minimum over s is at
w_R = 1/R, w_K = 1/KL when λ_bal = 0 (β = R/KL > 0), and λ_bal > 0 pulls β towards 1.

Optional bounds [β_min, β_max] act inside the loss: the KL term becomes
w_R·clip(β, β_min, β_max)·KL (so the clip's gradient is zero outside the bounds). ``lr`` gives
the two scalars their own learning rate (default: the loop's).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, PositiveFloat, model_validator
from torch import nn

from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import Objective, ObjectiveConfig


def learned_beta_loss(
    recon: torch.Tensor, kl: torch.Tensor, s_r: torch.Tensor, s_k: torch.Tensor, lam: float,
    beta_min: float | None = None, beta_max: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, β_eff) of the learned-β objective for scalar R, KL and log-weights s_R, s_K."""
    w_r, w_k = torch.exp(-s_r), torch.exp(-s_k)
    beta = w_k / w_r
    if beta_min is not None or beta_max is not None:
        kl_term = w_r * beta.clamp(beta_min, beta_max) * kl
    else:
        kl_term = w_k * kl
    loss = w_r * recon + kl_term + s_r + s_k + lam * (w_r - w_k).pow(2)
    return loss, beta


class LearnedBetaObjective(Objective):
    """Adds ``beta_eff``, ``w_recon`` and ``w_kl`` to the terms; trains s_R, s_K with the model."""

    def __init__(self, config: LearnedBetaConfig, likelihood: Likelihood, latent_dim: int) -> None:
        super().__init__(config, likelihood, latent_dim)
        self.s_recon = nn.Parameter(torch.tensor(float(config.init_s_recon)))
        self.s_kl = nn.Parameter(torch.tensor(float(config.init_s_kl)))

    def param_groups(self) -> list[dict]:
        group: dict = {"params": [self.s_recon, self.s_kl]}
        if self.config.lr is not None:
            group["lr"] = self.config.lr
        return [group]

    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        # β is read from the parameters (one tiny device read per step on a GPU)
        with torch.no_grad():
            beta = float(torch.exp(self.s_recon - self.s_kl))
        lo = self.config.beta_min if self.config.beta_min is not None else 0.0
        hi = self.config.beta_max if self.config.beta_max is not None else math.inf
        return {"beta": min(max(beta, lo), hi)}

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        c = self.config
        terms = self.base_terms(out, x)
        loss, beta = learned_beta_loss(terms["recon"], terms["kl"], self.s_recon, self.s_kl, c.lam_bal,
                                       c.beta_min, c.beta_max)
        terms["loss"] = loss
        terms["beta_eff"] = beta.detach()
        terms["w_recon"] = torch.exp(-self.s_recon).detach()
        terms["w_kl"] = torch.exp(-self.s_kl).detach()
        return terms


@OBJECTIVES.register("learned")
class LearnedBetaConfig(ObjectiveConfig):
    """Learned β (L-VAE-style, uncertainty weighting). Defaults: λ_bal = 1, s_R = s_K = 0."""

    kind: Literal["learned"] = "learned"
    lam_bal: float = Field(1.0, ge=0.0)
    init_s_recon: float = 0.0
    init_s_kl: float = 0.0
    beta_min: float | None = Field(None, ge=0.0)
    beta_max: float | None = Field(None, gt=0.0)
    lr: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check(self) -> LearnedBetaConfig:
        if self.beta_min is not None and self.beta_max is not None and self.beta_min > self.beta_max:
            raise ValueError(f"beta_min ({self.beta_min}) exceeds beta_max ({self.beta_max})")
        return self

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return LearnedBetaObjective(self, likelihood, latent_dim)
