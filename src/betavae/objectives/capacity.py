"""Capacity-controlled β-VAE (Burgess et al. 2018; disentanglement_lib ``AnnealedVAE``).

loss = R + γ_t·|KL − C_t|, with C_t from the capacity ramp (nats; KL summed over latents).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import Objective, ObjectiveConfig
from betavae.schedules import Capacity, Constant, WeightField


class CapacityObjective(Objective):
    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        gamma = self.config.gamma.at(step, epoch)
        return {"beta": gamma, "gamma": gamma, "capacity": self.config.capacity.at(step, epoch)}

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        terms = self.base_terms(out, x)
        terms["loss"] = terms["recon"] + hyper["gamma"] * (terms["kl"] - hyper["capacity"]).abs()
        return terms


@OBJECTIVES.register("capacity")
class CapacityConfig(ObjectiveConfig):
    """Defaults are Burgess et al.'s: γ = 1000, C from 0 to 25 nats over 100,000 steps."""

    kind: Literal["capacity"] = "capacity"
    gamma: WeightField = Field(default_factory=lambda: Constant(value=1000.0))
    capacity: WeightField = Field(default_factory=Capacity)

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return CapacityObjective(self, likelihood, latent_dim)
