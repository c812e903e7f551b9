"""β-TCVAE (Chen et al. 2018, "Isolating Sources of Disentanglement in Variational Autoencoders").

loss = R + α·MI + β·TC + γ·DWKL, the KL term split into index-code mutual information, total
correlation and dimension-wise KL, each estimated on the batch by minibatch-weighted (``mws``)
or minibatch-stratified (``mss``) sampling (:mod:`betavae.objectives.tc`). With α = β = γ = 1
this is the plain VAE up to estimator error; disentanglement_lib writes it as KL + (β − 1)·TC.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, PositiveInt

from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import Objective, ObjectiveConfig
from betavae.objectives.tc import kl_decomposition
from betavae.schedules import Constant, WeightField


class BetaTCObjective(Objective):
    """Adds ``mi``, ``tc`` and ``dwkl`` (batch estimates, nats; raw, possibly negative) to the terms."""

    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        c = self.config
        beta = c.beta.at(step, epoch)
        return {"beta": beta, "alpha": c.alpha.at(step, epoch), "gamma": c.gamma.at(step, epoch)}

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        terms = self.base_terms(out, x)
        parts = kl_decomposition(out.z, out.mu, out.logvar, self.config.dataset_size, self.config.estimator)
        terms.update(parts)
        terms["loss"] = (
            terms["recon"] + hyper["alpha"] * parts["mi"] + hyper["beta"] * parts["tc"] + hyper["gamma"] * parts["dwkl"]
        )
        return terms


@OBJECTIVES.register("betatcvae")
class BetaTCConfig(ObjectiveConfig):
    """β-TCVAE. Defaults: α = γ = 1, β = 6, MWS, N = 737,280 (the dSprites grid).

    ``dataset_size`` is N of the estimators (the number of distinct training images).
    """

    kind: Literal["betatcvae"] = "betatcvae"
    alpha: WeightField = Field(default_factory=lambda: Constant(value=1.0))
    beta: WeightField = Field(default_factory=lambda: Constant(value=6.0))
    gamma: WeightField = Field(default_factory=lambda: Constant(value=1.0))
    estimator: Literal["mws", "mss"] = "mws"
    dataset_size: PositiveInt = 737_280  # the dSprites grid

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return BetaTCObjective(self, likelihood, latent_dim)
