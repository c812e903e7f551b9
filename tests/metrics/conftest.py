"""Fixtures for the metric tests: the synthetic grid of spec section 7 and tiny ground-truth
sources whose observations are the factors themselves."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.metrics.reference import GRID_SIZES, reference_grid


class ArraySource:
    """A ground-truth source over a full factor grid; observations are the factor vectors
    as floats, shape (n, K) (the metrics never look inside observations)."""

    def __init__(self, factor_sizes: tuple[int, ...]) -> None:
        self.factor_sizes = tuple(factor_sizes)
        self.factor_names = tuple(f"f{i}" for i in range(len(factor_sizes)))
        self.observation_shape = (1, 1, len(factor_sizes))
        self.pixel_max = 1

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))

    def sample_factors_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(s, size=n) for s in self.factor_sizes], axis=1).astype(
            np.int64
        )

    sample_factors = sample_factors_uniform

    def observations(self, factors: np.ndarray) -> np.ndarray:
        return np.asarray(factors, dtype=np.float64)

    def index(self, factors: np.ndarray) -> np.ndarray:
        """Row of each factor vector in the C-order grid."""
        return np.ravel_multi_index(tuple(np.asarray(factors).T), self.factor_sizes)


def make_grid(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Spec section 7: the permuted grid (2160, 5) and float32 perfect / mixed / random codes."""
    return reference_grid(seed)


def lookup_encoder(source: ArraySource, factors: np.ndarray, codes: np.ndarray):
    """An encoder that looks up the code of each observation (= factor vector) in a table."""
    table = np.zeros((len(source), codes.shape[1]), dtype=np.float64)
    table[source.index(factors)] = codes

    def encode(observations: np.ndarray) -> np.ndarray:
        return table[source.index(np.asarray(observations).astype(np.int64))]

    return encode


@pytest.fixture(scope="session")
def grid():
    return make_grid(0)


@pytest.fixture(scope="session")
def grid_source() -> ArraySource:
    return ArraySource(GRID_SIZES)


@pytest.fixture(scope="session")
def identity_data():
    """Spec section 6: 10 factors uniform on 10 values; codes = factors (identity)."""
    rng = np.random.default_rng(0)
    factors = rng.integers(10, size=(20_000, 10))
    return factors.astype(np.float64), factors


@pytest.fixture(scope="session")
def identity_source() -> ArraySource:
    return ArraySource((10,) * 10)


@pytest.fixture(scope="session")
def grid_at():
    """``grid_at(seed)`` -> the section 7 grid built with another seed (cached)."""
    cache: dict[int, tuple] = {}

    def get(seed: int):
        if seed not in cache:
            cache[seed] = make_grid(seed)
        return cache[seed]

    return get


@pytest.fixture(scope="session")
def make_encoder():
    """``make_encoder(source, factors, codes)`` -> lookup encoder."""
    return lookup_encoder
