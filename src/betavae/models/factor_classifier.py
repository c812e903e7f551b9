"""The factor classifier of spec/dsprites-vsa.md §7.2: the tool behind the vsa swap measures.

The feature-vector VAE's conv trunk, Linear(1024→256) ReLU and five softmax heads (shape, scale,
orientation, posX, posY classes). It is trained by :class:`betavae.train.tasks.vsa.ClassifierTask`
and cached by :mod:`betavae.vsa.classifier`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from betavae.data.dsprites_split import SIZES
from betavae.models.feature_vae import conv_trunk

HEADS = tuple(int(n) for n in SIZES)


class FactorClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(conv_trunk(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, sum(HEADS)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 1, 64, 64) -> five logit tensors (B, n_f)."""
        return list(self.net(x).split(HEADS, dim=1))

    @torch.no_grad()
    def predict(self, images: np.ndarray | torch.Tensor, batch: int = 256) -> np.ndarray:
        """Images (N, 1, 64, 64) -> (N, 5) int64 argmax classes."""
        self.eval()
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        out = [torch.stack([h.argmax(1) for h in self(x[s : s + batch])], 1) for s in range(0, len(x), batch)]
        return torch.cat(out).numpy() if out else np.zeros((0, 5), np.int64)
