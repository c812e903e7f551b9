"""VAE (Kingma & Welling 2014) and β-VAE (Higgins et al. 2017): R + β_t·KL."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import Objective, ObjectiveConfig
from betavae.schedules import Constant, WeightField


class BetaObjective(Objective):
    """loss = R + β_t·KL; with β ≡ 1 this is the plain VAE's negative ELBO."""

    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        beta = self.config.beta.at(step, epoch) if hasattr(self.config, "beta") else 1.0
        return {"beta": beta}

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        terms = self.base_terms(out, x)
        terms["loss"] = terms["recon"] + hyper["beta"] * terms["kl"]
        return terms


@OBJECTIVES.register("vae")
class VAEConfig(ObjectiveConfig):
    """The plain VAE: R + KL."""

    kind: Literal["vae"] = "vae"

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return BetaObjective(self, likelihood, latent_dim)


@OBJECTIVES.register("beta")
class BetaConfig(ObjectiveConfig):
    """β-VAE: R + β_t·KL; β is any schedule (a number means constant). Default β = 4 (β-VAE H)."""

    kind: Literal["beta"] = "beta"
    beta: WeightField = Field(default_factory=lambda: Constant(value=4.0))

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return BetaObjective(self, likelihood, latent_dim)
