"""The one histogram discretiser and the one discrete mutual-information matrix.

Used by MIG (Chen et al. 2018), modularity (Ridgeway & Mozer 2018), IRS (Suter et al. 2019,
which discretises the *factors*) and the unsupervised mean mutual information
(Locatello et al. 2019), exactly as disentanglement_lib computes them.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score

DEFAULT_NUM_BINS = 20


def histogram_discretize(values: np.ndarray, num_bins: int = DEFAULT_NUM_BINS) -> np.ndarray:
    """Equal-width bins per column, as disentanglement_lib's ``histogram_discretizer``.

    For each column j: ``edges = np.histogram(x_j, num_bins)[1]`` (``num_bins + 1`` edges from
    the column's min to its max) and ``label = np.digitize(x_j, edges[:-1])`` in
    ``{1..num_bins}``. A constant column falls into one bin.

    Args:
        values: (N, D) array (codes, or factors for IRS); its dtype is kept for the edges,
            so float32 codes are binned exactly as disentanglement_lib bins them.
        num_bins: number of bins (20 in disentanglement_lib's study).

    Returns:
        (N, D) int64 labels.
    """
    values = np.asarray(values)
    out = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        column = values[:, j]
        edges = np.histogram(column, num_bins)[1]
        out[:, j] = np.digitize(column, edges[:-1])
    return out


def _dense_labels(labels: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Relabel each column to 0..n_j-1; returns the relabelled (N, A) array and the n_j."""
    dense = np.empty(labels.shape, dtype=np.int64)
    sizes = []
    for j in range(labels.shape[1]):
        uniq, inverse = np.unique(labels[:, j], return_inverse=True)
        dense[:, j] = inverse.reshape(-1)
        sizes.append(len(uniq))
    return dense, sizes


def mutual_info_matrix(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Discrete mutual information (nats) between every column of ``x`` and of ``y``.

    ``m[a, b] = sklearn.metrics.mutual_info_score(x[:, a], y[:, b])``; the contingency table of
    each pair is counted once with ``np.bincount`` and handed to sklearn's
    ``mutual_info_score(contingency=...)``, the same formula, far fewer passes over the data.

    Args:
        x: (N, A) integer labels (e.g. discretised codes).
        y: (N, B) integer labels (e.g. factors); ``None`` means ``x`` against itself.

    Returns:
        (A, B) float64 matrix. With ``y=None`` it is symmetric and each pair is computed once.
    """
    x = np.asarray(x)
    xd, nx = _dense_labels(x)
    if y is None:
        yd, ny = xd, nx
    else:
        yd, ny = _dense_labels(np.asarray(y))
    if xd.shape[0] != yd.shape[0]:
        raise ValueError("x and y must have the same number of rows")
    m = np.zeros((xd.shape[1], yd.shape[1]), dtype=np.float64)
    for a in range(xd.shape[1]):
        for b in range(yd.shape[1]):
            if y is None and b < a:
                m[a, b] = m[b, a]
                continue
            counts = np.bincount(xd[:, a] * ny[b] + yd[:, b], minlength=nx[a] * ny[b])
            m[a, b] = mutual_info_score(None, None, contingency=counts.reshape(nx[a], ny[b]))
    return m


def contingency_mutual_info(counts: np.ndarray) -> float:
    """Mutual information (nats) of a 2-D contingency table, in NumPy alone.

    I = Σ_ab (n_ab / n) log(n n_ab / (n_a n_b)) over the non-zero cells: the plug-in
    estimator, the formula ``sklearn.metrics.mutual_info_score`` implements, but computed
    here so that no scikit-learn version can change it. 0 for a table with one row or column.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    if n == 0 or min(counts.shape) < 2:
        return 0.0
    rows, cols = counts.sum(axis=1), counts.sum(axis=0)
    a, b = np.nonzero(counts)
    nab = counts[a, b]
    mi = float(np.sum(nab / n * (np.log(nab) + np.log(n) - np.log(rows[a]) - np.log(cols[b]))))
    return max(mi, 0.0)


def contingency_tables(x: np.ndarray, y: np.ndarray) -> list[list[np.ndarray]]:
    """The (n_a, n_b) contingency table of every column pair of (N, A) ``x`` and (N, B) ``y``
    integer labels, counted once with ``np.bincount``."""
    xd, nx = _dense_labels(np.asarray(x))
    yd, ny = _dense_labels(np.asarray(y))
    return [
        [
            np.bincount(xd[:, a] * ny[b] + yd[:, b], minlength=nx[a] * ny[b]).reshape(nx[a], ny[b])
            for b in range(yd.shape[1])
        ]
        for a in range(xd.shape[1])
    ]


def discrete_entropy(labels: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each column of (N, K) integer labels: H(v_k) = MI(v_k, v_k)."""
    labels = np.asarray(labels)
    dense, sizes = _dense_labels(labels)
    h = np.empty(labels.shape[1], dtype=np.float64)
    for k in range(labels.shape[1]):
        counts = np.bincount(dense[:, k], minlength=sizes[k])
        h[k] = mutual_info_score(None, None, contingency=np.diag(counts))
    return h
