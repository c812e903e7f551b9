"""DCI-ES explicitness and size (Eastwood, Nicolicioiu, von Kügelgen, Kekić, Träuble, Dittadi &
Schölkopf, ICLR 2023, "DCI-ES: An Extended Disentanglement Framework with Connections to
Identifiability"), beside D, C and I of :mod:`betavae.metrics.dci`.

Explicitness (ease of use): for each factor, probes of increasing capacity are trained to
predict it from the codes; their test losses against capacity form the loss–capacity curve.
E_k = 1 − AULCC_k / Z_k, where AULCC is the area between the curve (made monotone by a
running minimum) and its lowest loss, and Z_k = ½ (c_max − c_min) ℓ_b,k, the triangle under
a loss falling linearly from the baseline loss ℓ_b,k to 0. As in the authors' code
(``metrics/explitcitness.py``, the mode its comment says the ICLR paper used): running
minimum, trapezoidal area above the curve's own minimum, normaliser with ℓ* = 0. E = 1 when
the smallest probe already reaches the best loss (also when the codes hold nothing about the
factor: the curve is flat; read E together with informativeness); E < 0 when the loss falls
more slowly than linearly.

Probes here (the authors train MLPs, random-Fourier-feature probes and random forests): one
``DecisionTreeClassifier(max_leaf_nodes=2**c)`` per capacity c = 1..C (capacity axis c =
log2 of the leaves, the authors' log-parameter axis for MLPs); loss = test error
1 − accuracy (the authors use 1 − R² for ordinal factors; factors here are classes); ℓ_b = the
test error of always predicting the most frequent training class (the authors' table: 2/3 for
dSprites' 3 shapes, 1 for R²).

Size: S = K / D, the number of factors over the number of code dimensions (1 for a code
of one dimension per factor, smaller for larger codes); the authors' code does not compute it.
"""

from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from betavae.errors import BetavaeError
from betavae.metrics._checks import (
    CLASSIFIER_MIN_ROWS,
    DEFAULT_TRAIN_FRACTION,
    Seed,
    as_generator,
    constant_factor_mask,
    estimator_seeds,
    split,
)

#: Capacities c = 1..8: trees of 2 to 256 leaves.
DEFAULT_CAPACITIES = 8

#: 10 training and 5 test rows (a classifier metric).
DCI_ES_MIN_ROWS = CLASSIFIER_MIN_ROWS


def explicitness_from_curve(capacity: np.ndarray, loss: np.ndarray, baseline_loss: float) -> float:
    """E = 1 − 2 ∫(ℓ(c) − min ℓ) dc / ((c_max − c_min) ℓ_b) of one loss–capacity curve.

    Args:
        capacity: (P,) increasing capacities (P >= 2).
        loss: (P,) test losses; replaced by their running minimum (a larger probe can do at
            least as well as a smaller one).
        baseline_loss: ℓ_b > 0, the loss of the best constant prediction.
    """
    x = np.asarray(capacity, dtype=np.float64)
    y = np.minimum.accumulate(np.asarray(loss, dtype=np.float64))
    if x.size < 2 or np.any(np.diff(x) <= 0):
        raise BetavaeError("dci_es: a loss-capacity curve needs >= 2 increasing capacities")
    if baseline_loss <= 0:
        return 1.0  # the factor is predicted perfectly by a constant: nothing to learn
    above = y - y.min()
    area = float(np.sum(0.5 * (above[:-1] + above[1:]) * np.diff(x)))
    return 1.0 - 2.0 * area / ((x[-1] - x[0]) * baseline_loss)


def loss_capacity_curve(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    capacities: int,
    seed: int,
) -> tuple[np.ndarray, float]:
    """Test errors of trees with 2**1..2**capacities leaves, and the baseline error.

    Returns ``(losses (capacities,), baseline)``; the baseline predicts the most frequent
    training class (the smallest one on ties).
    """
    classes, counts = np.unique(y_train, return_counts=True)
    baseline = float(np.mean(y_test != classes[np.argmax(counts)]))
    losses = np.empty(capacities)
    with threadpool_limits(limits=1):
        for c in range(1, capacities + 1):
            tree = DecisionTreeClassifier(max_leaf_nodes=2**c, random_state=seed)
            tree.fit(x_train, y_train)
            losses[c - 1] = float(np.mean(tree.predict(x_test) != y_test))
    return losses, baseline


def dci_es_summary(
    curves: list[tuple[np.ndarray, float]], num_codes: int
) -> dict[str, float]:
    """``dci_es.explicitness`` (mean of E_k over factors) and ``dci_es.size`` (K / D)."""
    per_factor = [
        explicitness_from_curve(np.arange(1, len(loss) + 1), loss, base) for loss, base in curves
    ]
    return {
        "dci_es.explicitness": float(np.mean(per_factor)),
        "dci_es.size": len(curves) / num_codes,
    }


def dci_es(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    *,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    seed: Seed = 0,
    capacities: int = DEFAULT_CAPACITIES,
) -> dict[str, float]:
    """DCI-ES explicitness E and size S (D, C and I: :func:`betavae.metrics.dci`).

    Args:
        codes, factors: (N, D) codes and (N, K) integer classes (train, or all rows with
            ``train_fraction``).
        codes_test, factors_test: independent test arrays (optional).
        seed: int or Generator; factor k's trees get the k-th of K integers drawn from it.
        capacities: C, the largest capacity (trees of up to 2**C leaves), >= 2.

    Returns:
        ``dci_es.explicitness`` (mean over factors, <= 1) and ``dci_es.size`` (K / D).
    """
    if not isinstance(capacities, int) or capacities < 2:
        raise BetavaeError(f"dci_es: capacities must be an int >= 2, got {capacities!r}")
    ctr, ftr, cte, fte = split(codes, factors, codes_test, factors_test, train_fraction)
    DCI_ES_MIN_ROWS.check("dci_es", ctr.shape[0], cte.shape[0])
    keep = constant_factor_mask(ftr, "dci_es", " in the training rows")
    ftr, fte = ftr[:, keep], fte[:, keep]
    seeds = estimator_seeds(as_generator(seed), ftr.shape[1])
    curves = [
        loss_capacity_curve(ctr, ftr[:, k], cte, fte[:, k], capacities, seeds[k])
        for k in range(ftr.shape[1])
    ]
    return dci_es_summary(curves, ctr.shape[1])
