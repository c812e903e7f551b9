"""The objective contract.

An objective turns a model's output into named loss terms. It owns its schedules and reports
their values through :meth:`Objective.hyper`, which the training loop calls with the step and
epoch it owns. ``forward`` returns at least ``loss``, ``recon`` and ``kl`` (batch means, scalars)
and ``kl_per_dim`` (B, D, unreduced).

Objectives with parameters of their own use two generic hooks, so the loop stays ignorant of them:

- :meth:`Objective.param_groups`: groups the loop adds to the main optimiser (default: every
  objective parameter that is not auxiliary, at the loop's learning rate).
- :meth:`Objective.auxiliary_optimizer`: an optimiser the objective owns for *auxiliary*
  parameters trained on their own loss (e.g. FactorVAE's discriminator). ``forward`` then also
  returns ``aux_loss``; the loop back-propagates ``loss + aux_loss`` once and steps both
  optimisers. The objective guarantees that ``loss`` sends no gradient to the auxiliary
  parameters and ``aux_loss`` none to the model (the contract tests check both), so the one
  backward pass equals two separate ones. The loop checkpoints the auxiliary optimiser's state.
"""

from __future__ import annotations

from typing import ClassVar

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

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        """Parameters trained only by :meth:`auxiliary_optimizer` on ``aux_loss`` (default none)."""
        return []

    def auxiliary_optimizer(self) -> torch.optim.Optimizer | None:
        """The objective's own optimiser for :meth:`auxiliary_parameters` (default none)."""
        return None

    def param_groups(self) -> list[dict]:
        """Optimiser groups of the objective's main-loss parameters (empty when it has none)."""
        aux = {id(p) for p in self.auxiliary_parameters()}
        params = [p for p in self.parameters() if p.requires_grad and id(p) not in aux]
        return [{"params": params}] if params else []

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
    """Base of objective configs; ``build`` returns the :class:`Objective` module (image
    objectives; a system's objective may build something else for its task to call)."""

    #: the training task whose models this objective trains (see betavae.train.task)
    task: ClassVar[str] = "image"

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        raise NotImplementedError
