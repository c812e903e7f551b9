"""Input validation, the train/test rule, seeds and constant factors, shared by every metric.

Conventions (see ``docs/metrics.md``):

* ``codes`` are ``(N, D)`` finite floats (float32 stays float32, as disentanglement_lib keeps
  the encoder's dtype; other dtypes become float64), ``factors`` are ``(N, K)`` integer
  classes (integral floats are accepted and cast).
* Train/test: either separate arrays (disentanglement_lib draws independent sets) or one array
  split by ``train_fraction``: the first ``ceil(f * N)`` rows train, the rest test.
* Seeds: every metric takes ``seed: int | numpy.random.Generator``. An int builds a fresh
  ``numpy.random.default_rng(seed)`` inside the metric (disentanglement_lib's fresh
  ``RandomState(0)`` per metric); a Generator is used as the stream and advanced.
* Constant factors carry no information and make several metrics divide by zero (MIG by
  H(v_k) = 0, classifiers refuse one class): every supervised metric drops the factors that
  are constant *in the rows it uses* (a classifier metric: its training rows) with a
  :class:`ConstantFactorWarning`; if none is left it raises :class:`BetavaeError`.
* Minimum rows: every array metric declares a :class:`RowMinimum` (``MIN_ROWS`` in its
  module) and refuses fewer rows with a one-line :class:`BetavaeError`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from betavae.errors import BetavaeError

Seed = int | np.random.Generator

DEFAULT_TRAIN_FRACTION = 2.0 / 3.0


class ConstantFactorWarning(UserWarning):
    """A factor column takes a single value and was dropped from a metric."""


@dataclass(frozen=True)
class RowMinimum:
    """The fewest rows an array metric accepts.

    Attributes:
        rows: rows the metric fits on or counts over (its training rows if it has a test set).
        test: held-out rows it scores on (0: no test set).
        bins: whether it also needs ``num_bins`` rows (histogram metrics: fewer rows than
            bins give every point its own bin and a meaningless mutual information).
    """

    rows: int
    test: int = 0
    bins: bool = False

    def shortfall(self, metric: str, n: int, n_test: int = 0, num_bins: int = 0) -> str | None:
        """``None`` if ``n`` (and ``n_test``) rows suffice, else why not, naming the metric."""
        need = max(self.rows, num_bins if self.bins else 0)
        if n < need:
            what = "training rows" if self.test else "rows"
            extra = (
                f" (with fewer than num_bins={num_bins} rows the histogram mutual information "
                "is meaningless; or lower num_bins)"
                if self.bins and num_bins > self.rows
                else ""
            )
            return f"{metric}: {n} {what} given, at least {need} needed{extra}"
        if n_test < self.test:
            return f"{metric}: {n_test} test rows given, at least {self.test} needed"
        return None

    def check(self, metric: str, n: int, n_test: int = 0, num_bins: int = 0) -> None:
        """Raise :class:`BetavaeError` if the rows fall short."""
        if num_bins < 0 or (self.bins and num_bins < 1):
            raise BetavaeError(f"{metric}: num_bins must be >= 1, got {num_bins}")
        problem = self.shortfall(metric, n, n_test, num_bins)
        if problem is not None:
            raise BetavaeError(f"{problem}; pass more rows")


#: Classifier metrics (DCI, discrete SAP, explicitness): below 10 training rows a classifier
#: sees one or two examples per class, and an accuracy on fewer than 5 test rows moves in
#: steps of 0.2 or more.
CLASSIFIER_MIN_ROWS = RowMinimum(rows=10, test=5)

#: Histogram metrics (MIG, modularity, IRS): at least ``num_bins`` rows (20 by default).
HISTOGRAM_MIN_ROWS = RowMinimum(rows=2, bins=True)


def varying_columns(x: np.ndarray) -> np.ndarray:
    """Boolean mask of the columns of (N, D) ``x`` that are not constant up to rounding.

    A column varies when its range exceeds 4 units in the last place of its largest
    magnitude (``4 * eps(dtype) * max|x_d|``): a float32 column of one value, whose computed
    variance is ~1e-14 rather than 0, is constant; a column that varies by more than a
    rounding error is not. Scale-aware, so tiny but real codes (1e-20 apart) still count.
    """
    x = np.asarray(x)
    eps = np.finfo(x.dtype).eps if x.dtype.kind == "f" else np.finfo(np.float64).eps
    spread = x.max(axis=0) - x.min(axis=0)
    return spread > 4.0 * eps * np.abs(x).max(axis=0)


def as_generator(seed: Seed | None) -> np.random.Generator:
    """``int`` -> a fresh ``default_rng(seed)``; a Generator is returned as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise BetavaeError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def estimator_seeds(rng: np.random.Generator, n: int) -> list[int]:
    """``n`` integer ``random_state`` values for sklearn estimators, drawn up front in order.

    Drawing them before any fitting makes the parallel and sequential paths identical.
    """
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]


def check_codes(codes: object, name: str = "codes") -> np.ndarray:
    """Validate ``codes``: a finite float array of shape (N, D) with N >= 1, D >= 1."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise BetavaeError(
            f"{name} must be a 2-D array (N points, D code dimensions), got shape {arr.shape}; "
            "reshape a single dimension with x[:, None]"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BetavaeError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype.kind not in "fiub":
        raise BetavaeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise BetavaeError(
            f"{name} contains NaN or inf (first at row {bad[0]}, dimension {bad[1]}); "
            "check the encoder output before scoring"
        )
    return arr


def check_factors(factors: object, n: int | None, name: str = "factors") -> np.ndarray:
    """Validate ``factors``: integer classes of shape (N, K); N must equal ``n`` if given."""
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise BetavaeError(
            f"{name} must be a 2-D array (N points, K factors) of integer classes, "
            f"got shape {arr.shape}"
        )
    if arr.shape[1] < 1:
        raise BetavaeError(f"{name} has no factor columns (shape {arr.shape})")
    if n is not None and arr.shape[0] != n:
        raise BetavaeError(
            f"{name} has {arr.shape[0]} rows but the codes have {n}; "
            "codes and factors must describe the same points, row by row"
        )
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise BetavaeError(
                f"{name} must hold integer classes, got non-integer values (dtype {arr.dtype}); "
                "discretise continuous factors first (e.g. with np.digitize)"
            )
        return arr.astype(np.int64)
    raise BetavaeError(f"{name} must hold integer classes, got dtype {arr.dtype}")


def check_pair(codes: object, factors: object, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate one (codes, factors) pair of equal N."""
    c = check_codes(codes, "codes" + suffix)
    return c, check_factors(factors, c.shape[0], "factors" + suffix)


def split(
    codes: object,
    factors: object,
    codes_test: object | None = None,
    factors_test: object | None = None,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The train/test rule: separate arrays, or the first ``ceil(f*N)`` rows train.

    Returns ``(codes_train, factors_train, codes_test, factors_test)``.
    """
    if (codes_test is None) != (factors_test is None):
        raise BetavaeError("pass both codes_test and factors_test, or neither")
    c, f = check_pair(codes, factors)
    if codes_test is not None:
        ct, ft = check_pair(codes_test, factors_test, "_test")
        if ct.shape[1] != c.shape[1] or ft.shape[1] != f.shape[1]:
            raise BetavaeError(
                f"train and test shapes disagree: codes {c.shape} vs {ct.shape}, "
                f"factors {f.shape} vs {ft.shape}"
            )
        return c, f, ct, ft
    if not 0.0 < train_fraction < 1.0:
        raise BetavaeError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    n_train = math.ceil(train_fraction * c.shape[0])
    if n_train >= c.shape[0]:
        raise BetavaeError(
            f"{c.shape[0]} points leave no test rows at train_fraction={train_fraction}; "
            "pass more points or separate test arrays"
        )
    return c[:n_train], f[:n_train], c[n_train:], f[n_train:]


def varying_factors(factors: np.ndarray) -> np.ndarray:
    """Boolean mask of the factor columns of (N, K) ``factors`` that take more than one value."""
    return np.any(factors != factors[:1], axis=0)


def constant_factor_mask(
    factors: np.ndarray, metric: str, where: str = "", names: list[str] | None = None
) -> np.ndarray:
    """Boolean mask of non-constant factor columns; warns for dropped ones, raises if none left.

    ``where`` qualifies "constant" in the messages (e.g. ``" in the training rows"``);
    ``names`` labels the columns (default: their indices).
    """
    keep = varying_factors(factors)
    if not keep.all():
        dropped = np.flatnonzero(~keep).tolist()
        label = [names[k] for k in dropped] if names is not None else dropped
        if not keep.any():
            raise BetavaeError(
                f"{metric}: every factor column is constant{where} (columns {label}); "
                "a metric needs at least one factor that varies"
            )
        warnings.warn(
            f"{metric}: factor columns {label} are constant{where} and were dropped "
            "(a constant factor has zero entropy; disentanglement_lib drops dSprites' colour)",
            ConstantFactorWarning,
            stacklevel=3,
        )
    return keep


def check_min_points(n: int, num_bins: int, metric: str) -> None:
    """Histogram metrics need at least ``num_bins`` points, or the bins are meaningless."""
    HISTOGRAM_MIN_ROWS.check(metric, n, num_bins=num_bins)
