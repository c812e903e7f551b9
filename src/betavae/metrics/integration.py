"""Integration measures of Langer et al. (2024, §2.3) for multimodal VAEs (spec §6). Pure NumPy.

The model enters as a callable ``reconstruct(x̃) -> (μ, log σ²)`` mapping muted inputs (N, D)
to Gaussian reconstructions of shape (..., N, D); any leading axes (ensemble members, latent
samples) are kept, so one call scores a whole ensemble. With p = D(x) and q = D(x̃):

- SME_i^mod / SME_i^all: x̃ = keep(x, K_i), KL over M_i / over all columns,
- LoP_i^mod / LoP_i^all: x̃ = mute(x, M_i), KL over M_i / over all columns,
- baseline B^all / B_i^mod: x̃ = everything muted,
- prediction error PE = mean_n ‖x_n − μ(x_n)‖₂.

Each is averaged over the N points (1024 by default, chosen by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np


class Layout(Protocol):
    """What the measures need of a modality layout (e.g. :class:`betavae.data.sensorimotor_layout.Layout`)."""

    names: tuple[str, ...]

    @property
    def dims(self) -> int: ...

    def columns(self, name: str, step: str = "both") -> np.ndarray: ...

    def mask(self, keep: dict[str, str] | None = None) -> np.ndarray: ...

    def mute(self, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``x`` (..., D) with every column outside ``keep`` (D,) muted (a new array)."""


Reconstruct = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
Direction = Literal["full_to_muted", "muted_to_full"]
Step = Literal["older", "newer", "both"]


def gaussian_kl(mu_p: np.ndarray, logvar_p: np.ndarray, mu_q: np.ndarray, logvar_q: np.ndarray) -> np.ndarray:
    """Per-dimension KL(p‖q) of diagonal Gaussians in nats, elementwise (spec §6):

    k_d = ½ [log(σ²_q/σ²_p) + (σ²_p + (μ_p − μ_q)²)/σ²_q − 1],

    evaluated as ½ [(r − 1 − log r) + (μ_p − μ_q)²/σ²_q] with log r = log σ²_p − log σ²_q and
    r − 1 − log r = expm1(log r) − log r, which is never negative in floating point.
    """
    log_r = np.asarray(logvar_p) - logvar_q
    return 0.5 * ((np.expm1(log_r) - log_r) + (mu_p - mu_q) ** 2 * np.exp(-np.asarray(logvar_q)))


def _kl(full: tuple[np.ndarray, np.ndarray], muted: tuple[np.ndarray, np.ndarray], direction: Direction) -> np.ndarray:
    p, q = (full, muted) if direction == "full_to_muted" else (muted, full)
    return gaussian_kl(p[0], p[1], q[0], q[1])


def measure_masks(layout: Layout, sme_keep: Step = "older", lop_mute: Step = "both") -> dict[str, np.ndarray]:
    """Keep-masks (D,) per measure input: ``sme.<mod>``, ``lop.<mod>``, ``baseline``."""
    out = {}
    for name in layout.names:
        out[f"sme.{name}"] = layout.mask({name: sme_keep})
        out[f"lop.{name}"] = ~layout.mask({name: lop_mute})
    out["baseline"] = np.zeros(layout.dims, dtype=bool)
    return out


def integration_measures(reconstruct: Reconstruct, x: np.ndarray, layout: Layout, *,
                         kl_direction: Direction = "full_to_muted", sme_keep: Step = "older",
                         lop_mute: Step = "both", pe_keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every measure of Langer et al. (2024) on clean points x (N, D); values have the leading
    shape of ``reconstruct``'s output without N (e.g. (E,) for an ensemble), in nats.

    Keys: ``sme_mod.<m>``, ``sme_all.<m>``, ``lop_mod.<m>``, ``lop_all.<m>``, ``baseline_all``,
    ``baseline_mod.<m>``, ``prediction_error``. ``pe_keep`` (D,) masks the PE input (default full).
    """
    x = np.asarray(x, dtype=np.float64)
    full = reconstruct(x)
    out: dict[str, np.ndarray] = {}
    cols = {name: layout.columns(name) for name in layout.names}
    for key, keep in measure_masks(layout, sme_keep, lop_mute).items():
        k = _kl(full, reconstruct(layout.mute(x, keep)), kl_direction)  # (..., N, D)
        mean_d = k.mean(axis=-2)  # (..., D): average over the points
        kind, _, mod = key.partition(".")
        if kind == "baseline":
            out["baseline_all"] = mean_d.sum(-1)
            for name, c in cols.items():
                out[f"baseline_mod.{name}"] = mean_d[..., c].sum(-1)
        else:
            out[f"{kind}_mod.{mod}"] = mean_d[..., cols[mod]].sum(-1)
            out[f"{kind}_all.{mod}"] = mean_d.sum(-1)
    mu = full[0] if pe_keep is None else reconstruct(layout.mute(x, pe_keep))[0]
    out["prediction_error"] = np.linalg.norm(x - mu, axis=-1).mean(-1)
    return out


def modality_kl(full: tuple[np.ndarray, np.ndarray], muted: tuple[np.ndarray, np.ndarray],
                layout: Layout, direction: Direction = "full_to_muted") -> dict[str, np.ndarray]:
    """KL over each modality's columns per point, ``{name: (..., N)}`` (used by the additivity checks)."""
    k = _kl(full, muted, direction)
    return {name: k[..., layout.columns(name)].sum(-1) for name in layout.names}
