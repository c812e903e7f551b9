"""Item memory and binding (spec/dsprites-vsa.md §5.2).

Seven fixed random vectors, never trained: five feature roles r_1..r_5 and two object slots
p_1, p_2. MAP binding (Gayler 2003) is the element-wise product; with bipolar ±1 vectors
x ⊙ x = 1, so unbinding is exact up to cross-talk. ``gaussian`` uses N(0, 1) vectors
(approximate unbinding); ``hrr`` binds by circular convolution (Plate 1995) with N(0, 1/d)
vectors and unbinds by circular correlation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

N_ROLES, N_SLOTS = 5, 2


def memory_vectors(kind: str, dim: int, seed: int) -> torch.Tensor:
    """(7, dim) float32: rows 0..4 roles, rows 5..6 object slots, from a fixed seed."""
    rng = np.random.default_rng([seed, 0x1E4])
    if kind == "bipolar":
        v = rng.choice(np.array([-1.0, 1.0]), size=(N_ROLES + N_SLOTS, dim))
    elif kind == "gaussian":
        v = rng.standard_normal((N_ROLES + N_SLOTS, dim))
    elif kind == "hrr":
        v = rng.standard_normal((N_ROLES + N_SLOTS, dim)) / np.sqrt(dim)
    else:
        raise ValueError(f"unknown item memory {kind!r}; use bipolar, gaussian or hrr")
    return torch.from_numpy(v.astype(np.float32))


def bind(a: torch.Tensor, x: torch.Tensor, kind: str = "bipolar") -> torch.Tensor:
    """a ⊛ x over the last axis: element-wise product, or circular convolution for ``hrr``."""
    if kind == "hrr":
        n = x.shape[-1]
        return torch.fft.irfft(torch.fft.rfft(a, n=n) * torch.fft.rfft(x, n=n), n=n)
    return a * x


def unbind(a: torch.Tensor, s: torch.Tensor, kind: str = "bipolar") -> torch.Tensor:
    """Recover x from s = a ⊛ x (+ other terms): a ⊙ s (exact for bipolar), or circular
    correlation for ``hrr``."""
    if kind == "hrr":
        n = s.shape[-1]
        return torch.fft.irfft(torch.fft.rfft(a, n=n).conj() * torch.fft.rfft(s, n=n), n=n)
    return a * s


class ItemMemory(nn.Module):
    """The fixed memory as non-trainable buffers (saved with the weights)."""

    def __init__(self, dim: int, kind: str = "bipolar", seed: int = 0) -> None:
        super().__init__()
        self.kind = kind
        self.register_buffer("vectors", memory_vectors(kind, dim, seed))

    @property
    def roles(self) -> torch.Tensor:
        """(5, d) feature roles r_f."""
        return self.vectors[:N_ROLES]

    @property
    def slots(self) -> torch.Tensor:
        """(2, d) object slots p_m."""
        return self.vectors[N_ROLES:]

    def object(self, v: torch.Tensor) -> torch.Tensor:
        """o = Σ_f r_f ⊛ v_f: v (…, 5, d) -> (…, d)."""
        return bind(self.roles, v, self.kind).sum(-2)

    def bind(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bind(a, x, self.kind)

    def unbind(self, a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return unbind(a, s, self.kind)

    def similarities(self, x: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of x (…, d) to each of the 7 memory vectors: (…, 7)."""
        return torch.nn.functional.cosine_similarity(x[..., None, :], self.vectors, dim=-1)
