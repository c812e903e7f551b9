"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising").

VAE loss = R + KL + γ·TC_D, with TC_D = mean_b (logit₀ − logit₁)(z_b), the density-ratio estimate
of the total correlation from a discriminator that tells z ~ q(z) (class 0) from z̃ ~ Π_j q(z_j)
(class 1: each latent permuted independently across the batch).

Discriminator loss = ½·[CE(D(z), 0) + CE(D(z̃), 1)], trained by the objective's own optimiser
(Adam 1e-4, β = (0.5, 0.9)) on that loss only. Gradient routing, checked by the contract tests:

- the VAE loss calls the discriminator with *detached parameters*, so it reaches the encoder
  through z but never the discriminator;
- the discriminator loss sees *detached* z and z̃, so it never reaches the encoder.

Both losses come from one forward pass and one backward pass of their sum, before any
optimiser step (no in-place-modified tensors in the graph).

z̃ comes from the same batch (disentanglement_lib) or, with ``permute_from: half``, the
discriminator sees the first half of the batch as class 0 and the permuted second half as
class 1 (two independent half-batches, as Kim & Mnih's two minibatches).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt
from torch import nn
from torch.func import functional_call

from betavae.bounds import AdamBeta
from betavae.models.base import VAEOutput
from betavae.models.likelihood import Likelihood
from betavae.objectives import OBJECTIVES
from betavae.objectives.base import Objective, ObjectiveConfig
from betavae.schedules import Constant, WeightField


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Each column of z (B, D) permuted independently across the batch (torch's global RNG)."""
    b, d = z.shape
    idx = torch.argsort(torch.rand(b, d, device=z.device), dim=0)
    return torch.gather(z, 0, idx)


def discriminator(latent_dim: int, hidden: int, layers: int) -> nn.Sequential:
    """MLP: ``layers`` hidden layers of ``hidden`` units, LeakyReLU(0.2), 2 logits (Kim & Mnih: 6 × 1000)."""
    mods: list[nn.Module] = []
    width = latent_dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    mods.append(nn.Linear(width, 2))
    return nn.Sequential(*mods)


class FactorVAEObjective(Objective):
    """Terms: ``tc_d`` (TC_D), ``aux_loss`` (the discriminator's loss), ``disc_accuracy``."""

    def __init__(self, config: FactorVAEConfig, likelihood: Likelihood, latent_dim: int) -> None:
        super().__init__(config, likelihood, latent_dim)
        self.discriminator = discriminator(latent_dim, config.disc_hidden, config.disc_layers)
        self._optimizer: torch.optim.Optimizer | None = None

    def auxiliary_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def auxiliary_optimizer(self) -> torch.optim.Optimizer:
        if self._optimizer is None:
            c = self.config
            self._optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=c.disc_lr, betas=c.disc_betas)
        return self._optimizer

    def hyper(self, step: int, epoch: int) -> dict[str, float]:
        gamma = self.config.gamma.at(step, epoch)
        return {"beta": 1.0, "gamma": gamma}

    def tc_estimate(self, z: torch.Tensor) -> torch.Tensor:
        """TC_D of z (B, D) with the discriminator's parameters detached (gradient to z only)."""
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        logits = functional_call(self.discriminator, frozen, (z,))
        return (logits[:, 0] - logits[:, 1]).mean()

    def discriminator_loss(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, accuracy) of the discriminator on detached z (B, D) and its permutation."""
        z = z.detach()
        if self.config.permute_from == "half":
            half = z.shape[0] // 2
            real, fake = z[:half], permute_dims(z[half : 2 * half])
        else:
            real, fake = z, permute_dims(z)
        logits = self.discriminator(torch.cat([real, fake]))
        labels = torch.cat([torch.zeros(len(real), dtype=torch.long, device=z.device),
                            torch.ones(len(fake), dtype=torch.long, device=z.device)])
        loss = 0.5 * (F.cross_entropy(logits[: len(real)], labels[: len(real)])
                      + F.cross_entropy(logits[len(real):], labels[len(real):]))
        accuracy = (logits.argmax(1) == labels).float().mean()
        return loss, accuracy

    def forward(
        self, out: VAEOutput, x: torch.Tensor, hyper: dict[str, float]
    ) -> dict[str, torch.Tensor]:
        terms = self.base_terms(out, x)
        tc = self.tc_estimate(out.z)
        terms["tc_d"] = tc
        terms["loss"] = terms["recon"] + terms["kl"] + hyper["gamma"] * tc
        terms["aux_loss"], terms["disc_accuracy"] = self.discriminator_loss(out.z)
        return terms


@OBJECTIVES.register("factorvae")
class FactorVAEConfig(ObjectiveConfig):
    """FactorVAE. Defaults: γ = 40 (from disentanglement_lib's grid {10, 20, 30, 40, 50, 100}); Kim &
    Mnih's discriminator (6 × 1000) and its Adam (1e-4, β = (0.5, 0.9)).

    The logged ``beta`` column is 1 (the weight on the KL term); ``gamma`` is γ.
    """

    kind: Literal["factorvae"] = "factorvae"
    gamma: WeightField = Field(default_factory=lambda: Constant(value=40.0))
    disc_hidden: PositiveInt = 1000
    disc_layers: PositiveInt = 6
    disc_lr: PositiveFloat = 1e-4
    disc_betas: tuple[AdamBeta, AdamBeta] = (0.5, 0.9)
    permute_from: Literal["same", "half"] = "same"

    def build(self, likelihood: Likelihood, latent_dim: int) -> Objective:
        return FactorVAEObjective(self, likelihood, latent_dim)
