"""The feature-vector VAE (spec/dsprites-vsa.md §5.1–5.2).

Encoder: 4 × Conv(4×4, s2, p1, ReLU) 1→32→32→64→64, Linear(1024→256) ReLU, Linear(256→2·5·d):
μ and log σ² of five feature vectors of dimension d (1024 in the source). Decoder: Linear(d→256)
ReLU, Linear(256→1024) ReLU, 64×4×4, 4 × ConvTranspose(4×4, s2, p1) 64→64→32→32→1, logits.
An object is Σ_f v_f, or Σ_f r_f ⊙ v_f with the item memory; a scene is Σ_m o_m, or
Σ_m p_m ⊙ o_m. The model knows nothing of the losses; it is trained by the ``vsa`` task
(:mod:`betavae.train.tasks.vsa`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import PositiveInt
from torch import nn

from betavae.bounds import Seed
from betavae.errors import BetavaeError
from betavae.models import MODELS
from betavae.models.base import ModelConfig
from betavae.models.item_memory import ItemMemory

N_FEATURES = 5


@MODELS.register("feature_vae")
class FeatureVAEConfig(ModelConfig):
    """Spec §5.1/§5.2: 4 conv + 2 linear layers, five feature vectors of ``latent_dim``.

    ``use_item_memory``: bind features with roles and objects with slots; ``None`` turns it on
    for the ``psd`` stage only (the stage is the data kind's, see :meth:`build`).
    """

    task: ClassVar[str] = "vsa"
    kind: Literal["feature_vae"] = "feature_vae"
    latent_dim: PositiveInt = 1024
    hidden: PositiveInt = 256
    use_item_memory: bool | None = None
    memory: Literal["bipolar", "gaussian", "hrr"] = "bipolar"
    memory_seed: Seed = 0

    def check_eval_metrics(self, names: list[str], eval_every: int | None) -> None:
        """During training (``train.eval_every``) a vsa run is scored with ``[vsa]``: the measures
        of the Good rule, emptiness and KL (:mod:`betavae.vsa.during`)."""
        if eval_every is not None and list(names) != ["vsa"]:
            raise BetavaeError(f"a feature_vae model is scored during training with [vsa] (docs/vsa.md), got {names}")

    def item_memory(self, stage: str) -> bool:
        """Whether the model of ``stage`` (pd, sd, psd) has the item memory."""
        return stage == "psd" if self.use_item_memory is None else self.use_item_memory

    def build(self, stage: str) -> FeatureVAE:
        """The model for training stage ``stage`` (PyTorch's default initialisation, global RNG)."""
        return FeatureVAE(self, self.item_memory(stage))


def conv_trunk() -> nn.Sequential:
    """x (B, 1, 64, 64) -> (B, 1024): four 4×4 stride-2 convolutions 1→32→32→64→64."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
        nn.Flatten(),
    )  # fmt: skip


class FeatureVAE(nn.Module):
    def __init__(self, settings: FeatureVAEConfig | None = None, item_memory: bool = False) -> None:
        super().__init__()
        s = settings or FeatureVAEConfig()
        self.dim = d = s.latent_dim
        self.encoder = nn.Sequential(conv_trunk(), nn.Linear(1024, s.hidden), nn.ReLU(),
                                     nn.Linear(s.hidden, 2 * N_FEATURES * d))
        self.decoder = nn.Sequential(
            nn.Linear(d, s.hidden), nn.ReLU(),
            nn.Linear(s.hidden, 1024), nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1),
        )  # fmt: skip
        self.memory = ItemMemory(d, s.memory, s.memory_seed) if item_memory else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, 64, 64) -> μ, log σ² each (B, 5, d)."""
        h = self.encoder(x).view(len(x), 2, N_FEATURES, self.dim)
        return h[:, 0], h[:, 1]

    def sample(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """v = μ + σ ⊙ ε in training, μ in evaluation."""
        if not self.training:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def object(self, v: torch.Tensor) -> torch.Tensor:
        """Feature vectors (…, 5, d) -> object vector (…, d)."""
        return v.sum(-2) if self.memory is None else self.memory.object(v)

    def scene(self, objects: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        """Objects (B, M, d), optional slot vectors (B, M, d) -> scene (B, d). Absent objects
        must be zero vectors."""
        if slots is not None and self.memory is not None:
            objects = self.memory.bind(slots, objects)
        return objects.sum(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, d) -> logits (B, 1, 64, 64)."""
        return self.decoder(z)
