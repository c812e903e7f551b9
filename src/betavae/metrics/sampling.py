"""Drawing (codes, factors) from a ground-truth source and an encoder, for every metric.

The source needs ``factor_sizes``, ``sample_factors_uniform(n, rng)`` and
``observations(factors)`` (see :mod:`betavae.data.base`); the encoder is a plain callable
``encode(observations) -> (n, D)`` returning posterior means. Models are never imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from betavae.errors import BetavaeError
from betavae.metrics._checks import Seed, as_generator, check_codes

Encoder = Callable[[np.ndarray], np.ndarray]

#: observations per ``encode`` call; only speed depends on it (all factors are drawn first)
DEFAULT_ENCODE_BATCH = 1024


class FactorSource(Protocol):
    """The part of :class:`betavae.data.base.GroundTruthData` that the metrics use."""

    factor_sizes: tuple[int, ...]

    def sample_factors_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def observations(self, factors: np.ndarray) -> np.ndarray: ...


def encode_factors(
    encode: Encoder,
    source: FactorSource,
    factors: np.ndarray,
    batch_size: int = DEFAULT_ENCODE_BATCH,
) -> np.ndarray:
    """Render and encode (M, K) factors in batches: (M, D) codes."""
    if batch_size < 1:
        raise BetavaeError(f"batch_size must be >= 1, got {batch_size}")
    parts = []
    for start in range(0, factors.shape[0], batch_size):
        chunk = factors[start : start + batch_size]
        codes = np.asarray(encode(source.observations(chunk)))
        if codes.ndim != 2 or codes.shape[0] != chunk.shape[0]:
            raise BetavaeError(
                f"encode returned shape {codes.shape} for {chunk.shape[0]} observations; "
                "it must return (n, D) posterior means"
            )
        parts.append(codes)
    return check_codes(np.concatenate(parts, axis=0), "encoded codes")


def sample_codes(
    encode: Encoder,
    source: FactorSource,
    num_points: int,
    *,
    seed: Seed = 0,
    batch_size: int = DEFAULT_ENCODE_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_points`` factor vectors i.i.d. uniformly over the grid (with replacement),
    render and encode them: ``(codes (N, D), factors (N, K))`` for the array metrics.

    disentanglement_lib encodes 16 at a time; here all factors are drawn first, so
    ``batch_size`` changes only the speed. For its independent train and test sets, call
    this twice with one Generator (or two seeds).
    """
    if num_points < 1:
        raise BetavaeError(f"num_points must be >= 1, got {num_points}")
    factors = np.asarray(
        source.sample_factors_uniform(num_points, as_generator(seed)), dtype=np.int64
    )
    return encode_factors(encode, source, factors, batch_size), factors


def varying_factors(source: FactorSource, metric: str) -> np.ndarray:
    """Indices of factors with more than one value, the ones a sampled score may fix.

    A factor of size 1 (dSprites' colour) is skipped, as disentanglement_lib leaves it out.
    Raises :class:`BetavaeError` if fewer than two factors vary (nothing to tell apart).
    """
    sizes = np.asarray(source.factor_sizes)
    idx = np.flatnonzero(sizes > 1)
    if idx.size < 2:
        raise BetavaeError(
            f"{metric}: the source has {idx.size} factor(s) with more than one value; "
            "the score needs at least two to tell apart"
        )
    return idx
