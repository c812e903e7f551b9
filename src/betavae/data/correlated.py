"""Correlated factors (Träuble et al. 2021, "On Disentangled Representations Learned from
Correlated Data", ICML): training factors drawn from a joint in which chosen pairs are tied.

For a pair (a, b) with normalised classes ĉ = class/(n − 1) ∈ [0, 1], the grid weight is

    w(c) = Π_pairs exp(−(ĉ_a − ĉ'_b)² / (2σ²)),  σ = 1/strength,  ĉ'_b = ĉ_b (or 1 − ĉ_b if inverse)

— the paper's p(c_a, c_b) ∝ exp(−‖c_a − α·c_b‖²/(2σ²)) with α = 1 on normalised factors.
``strength`` 0 (σ = ∞) is the independent grid; Träuble et al.'s σ ∈ {0.2, 0.4, 0.7} are
strengths 5, 2.5 and 1/0.7 ≈ 1.43. Factors in no pair stay uniform and independent. Sampling is
exact: the joint over the paired factors is tabulated once and sampled by inverse CDF.

Only *training* batches follow the joint (``sample_factors``); the metrics keep drawing from the
independent grid (``sample_factors_uniform``), as the paper evaluates.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from betavae.data import DATA
from betavae.data.base import GroundTruthData
from betavae.data.dsprites import FACTOR_NAMES, DSpritesConfig
from betavae.errors import BetavaeError


class FactorPair(BaseModel):
    """One correlated pair: ``factors: [a, b]`` (names or column indices of the varying factors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    factors: tuple[str | int, str | int]
    strength: float = Field(ge=0.0, allow_inf_nan=False)
    inverse: bool = False

    @property
    def sigma(self) -> float:
        """Träuble et al.'s σ = 1/strength (∞ for strength 0)."""
        return math.inf if self.strength == 0 else 1.0 / self.strength


def _column(factor: str | int, names: tuple[str, ...]) -> int:
    if isinstance(factor, int):
        if not 0 <= factor < len(names):
            raise BetavaeError(f"factor index {factor} is outside 0..{len(names) - 1} ({', '.join(names)})")
        return factor
    if factor not in names:
        raise BetavaeError(f"unknown factor {factor!r}; choose one of: {', '.join(names)}")
    return names.index(factor)


class CorrelatedSampler:
    """Exact sampler of the correlated joint over a factor grid.

    Args:
        factor_sizes: classes per factor, length K.
        pairs: ``(a, b, strength, inverse)`` with column indices a ≠ b.
    """

    def __init__(self, factor_sizes: tuple[int, ...], pairs: list[tuple[int, int, float, bool]]) -> None:
        self.sizes = tuple(int(n) for n in factor_sizes)
        self.involved = sorted({c for a, b, *_ in pairs for c in (a, b)})
        for a, b, *_ in pairs:
            if a == b:
                raise BetavaeError(f"a correlated pair needs two different factors, got column {a} twice")
        self.table = self.joint(pairs)
        self._cdf = np.cumsum(self.table.ravel())
        self._cdf /= self._cdf[-1]

    def joint(self, pairs: list[tuple[int, int, float, bool]]) -> np.ndarray:
        """Normalised joint over the involved factors, shape ``[sizes[c] for c in involved]``."""
        shape = [self.sizes[c] for c in self.involved]
        logw = np.zeros(shape, dtype=np.float64)
        for a, b, strength, inverse in pairs:
            ca = self._normalised(a)
            cb = self._normalised(b)
            cb = 1.0 - cb if inverse else cb
            logw = logw - 0.5 * strength**2 * (ca - cb) ** 2
        w = np.exp(logw - logw.max())
        return w / w.sum()

    def _normalised(self, col: int) -> np.ndarray:
        """ĉ = class/(n − 1) broadcast along column ``col``'s axis of the joint table."""
        n = self.sizes[col]
        values = np.arange(n, dtype=np.float64) / max(n - 1, 1)
        shape = [1] * len(self.involved)
        shape[self.involved.index(col)] = n
        return values.reshape(shape)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, K) int64 factor classes: paired factors from the joint, the rest uniform."""
        out = rng.integers(0, np.asarray(self.sizes), size=(n, len(self.sizes)), dtype=np.int64)
        if self.involved:
            flat = np.searchsorted(self._cdf, rng.random(n), side="right")
            flat = np.minimum(flat, self._cdf.size - 1)
            cells = np.unravel_index(flat, self.table.shape)
            for col, cls in zip(self.involved, cells, strict=True):
                out[:, col] = cls
        return out

    def correlation(self, a: int, b: int) -> float:
        """Exact Pearson correlation of the classes of columns a and b under the joint."""
        if a not in self.involved or b not in self.involved:
            return 0.0
        ia, ib = self.involved.index(a), self.involved.index(b)
        other = tuple(i for i in range(self.table.ndim) if i not in (ia, ib))
        p = self.table.sum(axis=other) if other else self.table
        p = p if ia < ib else p.T
        va = np.arange(self.sizes[a], dtype=np.float64)[:, None]
        vb = np.arange(self.sizes[b], dtype=np.float64)[None, :]
        ma, mb = (p * va).sum(), (p * vb).sum()
        cov = (p * (va - ma) * (vb - mb)).sum()
        sa = math.sqrt((p * (va - ma) ** 2).sum())
        sb = math.sqrt((p * (vb - mb) ** 2).sum())
        return float(cov / (sa * sb)) if sa > 0 and sb > 0 else 0.0


class CorrelatedSource:
    """A ground-truth source whose *training* factors follow a :class:`CorrelatedSampler`.

    Everything else (observations, the uniform grid the metrics draw from, ``images``,
    ``index`` ...) is the wrapped source's.
    """

    def __init__(self, base: GroundTruthData, sampler: CorrelatedSampler) -> None:
        self.base, self.sampler = base, sampler
        self.factor_names = base.factor_names
        self.factor_sizes = base.factor_sizes
        self.observation_shape = base.observation_shape
        self.pixel_max = base.pixel_max

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, name: str) -> Any:
        if name == "base" or "base" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.base, name)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Training factors from the correlated joint: (n, K) int64."""
        return self.sampler.sample(n, rng)

    def sample_factors_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The independent grid (for metrics): (n, K) int64."""
        return self.base.sample_factors_uniform(n, rng)

    def observations(self, factors: np.ndarray) -> np.ndarray:
        return self.base.observations(factors)


@DATA.register("dsprites_correlated")
class CorrelatedDSpritesConfig(DSpritesConfig):
    """dSprites with correlated training factors (every ``dsprites`` option applies too).

    Example: ``pairs: [{factors: [scale, posX], strength: 2.5}]`` (σ = 0.4).
    """

    kind: Literal["dsprites_correlated"] = "dsprites_correlated"  # type: ignore[assignment]
    pairs: list[FactorPair] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_pairs(self) -> CorrelatedDSpritesConfig:
        try:
            self.columns()
        except BetavaeError as exc:
            raise ValueError(str(exc)) from None
        return self

    def columns(self) -> list[tuple[int, int, float, bool]]:
        """The pairs as ``(column a, column b, strength, inverse)``."""
        out = []
        for pair in self.pairs:
            a, b = (_column(f, FACTOR_NAMES) for f in pair.factors)
            if a == b:
                raise BetavaeError(f"correlated pair {list(pair.factors)} names one factor twice")
            out.append((a, b, pair.strength, pair.inverse))
        return out

    def build(self, progress: bool = False) -> CorrelatedSource:
        base = super().build(progress=progress)
        return CorrelatedSource(base, CorrelatedSampler(base.factor_sizes, self.columns()))
