"""The synthetic reference grid of spec section 7, on which disentanglement_lib's own metric
functions were run: use it to check an installation (see docs/metrics.md)."""

from __future__ import annotations

import itertools

import numpy as np

#: factor sizes of the reference grid (K = 5, N = 2160)
GRID_SIZES = (3, 4, 5, 6, 6)


def grid_factors(sizes: tuple[int, ...] = GRID_SIZES) -> np.ndarray:
    """Every factor combination in C order: (prod(sizes), K) int64."""
    return np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)


def reference_grid(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The grid permuted by ``RandomState(seed)`` and three float32 code sets (2160, 8).

    Draws, in this order: the row permutation, noise 0.01·randn(N, 5), nuisance randn(N, 3),
    random codes randn(N, 8), Q = qr(randn(8, 8))[0]. ``perfect`` = [c/(n−1) + noise,
    nuisance], ``mixed`` = perfect·Q, ``random`` = the random codes.

    Returns:
        ``(factors (2160, 5) int64, {"perfect", "mixed", "random"} -> (2160, 8) float32)``.
    """
    rs = np.random.RandomState(seed)
    factors = grid_factors()
    factors = factors[rs.permutation(len(factors))]
    n = len(factors)
    noise = 0.01 * rs.randn(n, len(GRID_SIZES))
    nuisance = rs.randn(n, 3)
    random_codes = rs.randn(n, 8)
    q = np.linalg.qr(rs.randn(8, 8))[0]
    perfect = np.concatenate([factors / (np.array(GRID_SIZES) - 1) + noise, nuisance], axis=1)
    return factors, {
        "perfect": perfect.astype(np.float32),
        "mixed": (perfect @ q).astype(np.float32),
        "random": random_codes.astype(np.float32),
    }
