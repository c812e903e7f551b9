"""The model contract: encoders give a diagonal Gaussian q(z|x); decoders give logits.

Models map tensors to distribution parameters and know nothing of β, schedules or losses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from betavae.components import Component
from betavae.errors import BetavaeError
from betavae.models.init import InitName, initialise
from betavae.models.likelihood import Bernoulli, LikelihoodField


@dataclass
class VAEOutput:
    """One forward pass.

    mu, logvar: (B, D) posterior parameters; z: (B, D) reparameterised sample;
    logits: (B, C, H, W) decoder output (interpretation set by the likelihood).
    """

    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    logits: torch.Tensor


class GaussianVAE(nn.Module):
    """Base of every VAE: subclasses define ``encoder_body`` → (B, 2D) and ``decoder``."""

    latent_dim: int

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) in [0, 1] -> (mu, logvar), each (B, D)."""
        h = self.encoder(x)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, D) -> logits (B, C, H, W)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, sample: bool = True, eps: torch.Tensor | None = None) -> VAEOutput:
        """Encode, draw z = μ + σ·ε, decode. ε: (B, D), drawn from the global torch RNG unless given
        (an ensemble passes each member's own draw); z = μ if not ``sample``."""
        mu, logvar = self.encode(x)
        if sample and eps is None:
            eps = torch.randn_like(mu)
        z = mu + eps * torch.exp(0.5 * logvar) if sample else mu
        return VAEOutput(mu=mu, logvar=logvar, z=z, logits=self.decode(z))


class ModelConfig(Component):
    """Base of every model config. ``task`` names the training task (:mod:`betavae.train.task`)
    that builds and trains this kind of model; image VAEs derive from :class:`VAEConfig`."""

    #: the training task that trains this kind of model (see betavae.train.task)
    task: ClassVar[str] = "image"

    def check_eval_metrics(self, names: list[str], eval_every: int | None) -> None:
        """Raise :class:`~betavae.errors.BetavaeError` unless ``names`` are scores this kind of
        model can be given during training (``train.eval_metrics``; read only with
        ``train.eval_every``). By default a model has none."""
        if eval_every is not None and names:
            raise BetavaeError(f"a {self.kind} model has no scores during training; leave train.eval_every unset")


class VAEConfig(ModelConfig):
    """Base of model configs: ``build(observation_shape)`` returns a :class:`GaussianVAE`.

    Subclasses define ``network`` (the architecture, with PyTorch's default initialisation);
    ``build`` then applies ``init`` (see :mod:`betavae.models.init`) from the global torch RNG.
    ``init`` defaults to ``torch``, the behaviour before it existed, so a run folder whose
    config.yaml has no ``model.init`` rebuilds the same model; the shipped configs choose
    ``kaiming_uniform`` (docs/speed.md, "Leaving the collapsed phase").
    """

    latent_dim: int = Field(10, ge=1)
    likelihood: LikelihoodField = Field(default_factory=Bernoulli)
    init: InitName = "torch"

    def check_eval_metrics(self, names: list[str], eval_every: int | None) -> None:
        """Image VAEs are scored with the disentanglement metrics (betavae.metrics.suite)."""
        from betavae.metrics.suite import check_metric_names

        check_metric_names(names)

    def network(self, observation_shape: tuple[int, int, int]) -> GaussianVAE:
        raise NotImplementedError

    def build(self, observation_shape: tuple[int, int, int]) -> GaussianVAE:
        return initialise(self.network(observation_shape), self.init)
