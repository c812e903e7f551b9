"""Convolutional encoder/decoder pairs for 64×64 images.

- ``burgess`` (project default; Burgess et al. 2018, "Understanding disentangling in β-VAE"):
  4 conv layers (32 ch, 4×4, stride 2) → FC 256 → FC 256 → 2D; decoder mirrored.
- ``dlib_conv`` (the disentanglement_lib study, Locatello et al. 2019): conv 32-32-64-64 with
  kernels 4,4,2,2, stride 2 → FC 256 → 2D; decoder FC 256 → FC 1024 (64×4×4) → transposed
  convs 64, 32, 32, C (4×4, stride 2).
"""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt
from torch import nn

from betavae.errors import BetavaeError
from betavae.models import MODELS
from betavae.models.base import GaussianVAE, VAEConfig


def _check_64(shape: tuple[int, int, int], kind: str) -> None:
    if tuple(shape[1:]) != (64, 64):
        raise BetavaeError(
            f"model {kind!r} needs 64×64 images, got observation shape {tuple(shape)}; "
            "use model.kind=mlp or resize the data"
        )


class Burgess(GaussianVAE):
    """Burgess et al. (2018) architecture. x: (B, C, 64, 64) -> z: (B, D)."""

    def __init__(self, channels: int, latent_dim: int, hidden: int = 256, conv: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, conv, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(conv, conv, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(conv, conv, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(conv, conv, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(conv * 16, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * latent_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, conv * 16), nn.ReLU(),
            nn.Unflatten(1, (conv, 4, 4)),
            nn.ConvTranspose2d(conv, conv, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(conv, conv, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(conv, conv, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(conv, channels, 4, 2, 1),
        )  # fmt: skip


class DlibConv(GaussianVAE):
    """disentanglement_lib's conv encoder/decoder. x: (B, C, 64, 64) -> z: (B, D)."""

    def __init__(self, channels: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),  # 32×32
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),  # 16×16
            nn.Conv2d(32, 64, 2, 2), nn.ReLU(),  # 8×8
            nn.Conv2d(64, 64, 2, 2), nn.ReLU(),  # 4×4
            nn.Flatten(),
            nn.Linear(64 * 16, 256), nn.ReLU(),
            nn.Linear(256, 2 * latent_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(),
            nn.Linear(256, 1024), nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
        )  # fmt: skip


@MODELS.register("burgess")
class BurgessConfig(VAEConfig):
    kind: Literal["burgess"] = "burgess"
    hidden: PositiveInt = 256
    channels: PositiveInt = 32

    def network(self, observation_shape: tuple[int, int, int]) -> GaussianVAE:
        _check_64(observation_shape, self.kind)
        return Burgess(observation_shape[0], self.latent_dim, self.hidden, self.channels)


@MODELS.register("dlib_conv")
class DlibConvConfig(VAEConfig):
    kind: Literal["dlib_conv"] = "dlib_conv"

    def network(self, observation_shape: tuple[int, int, int]) -> GaussianVAE:
        _check_64(observation_shape, self.kind)
        return DlibConv(observation_shape[0], self.latent_dim)
