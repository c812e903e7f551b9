"""The ground-truth data interface shared by training, metrics and pictures.

A source has a discrete grid of generative factors (``factor_sizes``, one integer class per
factor) and renders observations from factor classes. Training draws factors with
``sample_factors`` (the training distribution, possibly correlated) and metrics draw them with
``sample_factors_uniform`` (the independent grid), as disentanglement_lib does.

A source whose "factor" is only an image index (a user's image collection,
:mod:`betavae.data.images`) sets ``ground_truth = False``: it trains and draws like any other,
and the metrics refuse it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from betavae.components import Component


@runtime_checkable
class GroundTruthData(Protocol):
    """A data source with known generative factors.

    Attributes:
        factor_names: names of the K varying factors, e.g. ``("shape", "scale", ...)``.
        factor_sizes: number of classes of each factor, length K.
        observation_shape: ``(C, H, W)`` of one observation.
        pixel_max: divide observations by this to get values in [0, 1] (1 for binary data,
            255 for 8-bit images).
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    observation_shape: tuple[int, int, int]
    pixel_max: int

    def __len__(self) -> int:
        """Number of distinct observations (the product of ``factor_sizes``)."""
        ...

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Factor classes drawn from the training distribution: (n, K) int64."""
        ...

    def sample_factors_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Factor classes drawn i.i.d. uniformly over the grid: (n, K) int64."""
        ...

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """Observations for factor classes (n, K): (n, C, H, W) uint8 in [0, pixel_max]."""
        ...


class DataConfig(Component):
    """Base of data-source configs; ``build()`` returns a :class:`GroundTruthData`."""

    def build(self) -> GroundTruthData:
        raise NotImplementedError

    def check(self) -> None:
        """Raise :class:`~betavae.errors.BetavaeError` now if :meth:`build` will fail on the
        user's files (a missing or unreadable file), so a sweep refuses before it makes any
        folder. Cheap checks only; the default checks nothing."""
