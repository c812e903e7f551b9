"""The objective contract.

An objective turns a model's output into named loss terms. It owns its schedules and reports
their values through :meth:`Objective.hyper`, which the training loop calls with the step and
epoch it owns. ``forward`` returns at least ``loss``, ``recon`` and ``kl`` (batch means, scalars)
and ``kl_per_dim`` (B, D, unreduced).
"""

from __future__ import annotations

import torch
from torch import nn

from betavae.components import Component
from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives.terms import kl_per_latent


class Objective(nn.Module):
    """Base objective: computes the reconstruction NLL and per-latent KL once for subclasses."""

    def __init__(self, config: ObjectiveConfig, likelihood: Likelihood, latent_dim: int) -> None:
        super().__init__()
        self.config = config
        self.likelihood = likelihood
        self.latent_dim = latent_dim

    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        """Schedule values at this step/epoch, e.g. ``{"beta": 4.0}``; logged every logged step.

        ``beta`` is always present: the weight on the KL term (γ for the capacity objective).
        """
        return {"beta": 1.0}

    def base_terms(self, out: VAEOutput, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """recon (scalar), kl (scalar) and kl_per_dim (B, D) under the canonical reduction."""
        kl_dim = kl_per_latent(out.mu, out.logvar)
        return {
            "recon": self.likelihood.nll(out.logits, x).mean(),
            "kl": kl_dim.sum(1).mean(),
            "kl_per_dim": kl_dim,
        }

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class ObjectiveConfig(Component):
    """Base of objective configs; ``build`` returns the :class:`Objective` module."""

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        raise NotImplementedError
