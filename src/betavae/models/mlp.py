"""A fully connected VAE for any image size (Higgins et al. 2017 used 1200-1200 on dSprites)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, PositiveInt
from torch import nn

from betavae.models import MODELS
from betavae.models.base import GaussianVAE, VAEConfig


def _stack(sizes: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers[:-1]  # no activation after the last layer


class MLP(GaussianVAE):
    """x: (B, C, H, W) flattened -> hidden layers -> (B, 2D); decoder mirrored to logits."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, hidden: list[int]) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        n_x = math.prod(shape)
        self.encoder = nn.Sequential(nn.Flatten(), *_stack([n_x, *hidden, 2 * latent_dim]))
        self.decoder = nn.Sequential(
            *_stack([latent_dim, *reversed(hidden), n_x]), nn.Unflatten(1, tuple(shape))
        )


@MODELS.register("mlp")
class MLPConfig(VAEConfig):
    kind: Literal["mlp"] = "mlp"
    hidden: list[PositiveInt] = Field(default_factory=lambda: [1200, 1200])

    def network(self, observation_shape: tuple[int, int, int]) -> GaussianVAE:
        return MLP(tuple(observation_shape), self.latent_dim, list(self.hidden))
