"""DCI-ES explicitness and size: known answers from the definition (Eastwood et al. 2023)."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.errors import BetavaeError
from betavae.metrics import dci_es, evaluate, explicitness_from_curve


def test_explicitness_of_known_curves():
    # the authors' own example curve: losses 5/6 .. 0 over capacities 1..7, baseline 1
    x = np.arange(1, 8)
    y = np.array([5, 4, 3, 2, 1, 0, 0]) / 6
    area = (4.5 + 3.5 + 2.5 + 1.5 + 0.5) / 6  # trapezoids above the minimum 0
    assert explicitness_from_curve(x, y, 1.0) == pytest.approx(1 - 2 * area / 6)
    # a loss falling linearly from the baseline to 0: the normalising triangle, E = 0
    assert explicitness_from_curve([0, 1, 2], [0.5, 0.25, 0.0], 0.5) == pytest.approx(0.0)
    # the smallest probe is already best: E = 1; slower than linear: E < 0
    assert explicitness_from_curve([1, 2, 3], [0.1, 0.1, 0.1], 0.8) == 1.0
    assert explicitness_from_curve([0, 1, 2], [1.0, 1.0, 0.0], 1.0) == pytest.approx(-0.5)
    # the running minimum: a larger probe that overfits does not raise the curve
    assert explicitness_from_curve([1, 2, 3], [1.0, 0.0, 0.5], 1.0) == explicitness_from_curve(
        [1, 2, 3], [1.0, 0.0, 0.0], 1.0
    )
    with pytest.raises(BetavaeError, match="increasing capacities"):
        explicitness_from_curve([1, 1], [0.2, 0.1], 1.0)


def balanced(n_per, sizes, seed=0):
    """Every factor combination n_per times, shuffled: exactly uniform classes."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(sizes))
    factors = np.repeat(grid, n_per, axis=0)
    return factors[np.random.default_rng(seed).permutation(len(factors))]


def test_axis_aligned_codes_known_answer():
    """A binary factor is split by the 2-leaf tree (loss 0 throughout, E = 1); a 4-class factor
    needs 4 leaves: losses 1/2, 0, 0, ... over capacities 1..8 with baseline 3/4, so
    E = 1 − 2 (½ · ½ · 1) / (7 · ¾) = 19/21."""
    train, test = balanced(10, (2, 4), 1), balanced(5, (2, 4), 2)
    r = dci_es(train.astype(float), train, test.astype(float), test)
    assert r["dci_es.explicitness"] == pytest.approx((1.0 + 19 / 21) / 2)
    assert r["dci_es.size"] == 1.0
    with_nuisance = dci_es(np.c_[train, np.zeros((80, 2))], train, np.c_[test, np.zeros((40, 2))], test)
    assert with_nuisance["dci_es.size"] == 0.5


def test_rotated_codes_are_less_explicit():
    train, test = balanced(4, (6, 6), 3), balanced(2, (6, 6), 4)
    q = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    aligned = dci_es(train.astype(float), train, test.astype(float), test)["dci_es.explicitness"]
    rotated = dci_es(train @ q, train, test @ q, test)["dci_es.explicitness"]
    assert rotated < aligned - 0.1


def test_suite_equals_function_and_bad_settings():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 5, size=(400, 3))
    codes = factors + 0.3 * rng.standard_normal((400, 3))
    r = evaluate(codes, factors, metrics=["dci_es"], seed=4, settings={"dci_es_capacities": 5})
    assert r["values"] == dci_es(codes, factors, seed=4, capacities=5)
    with pytest.raises(BetavaeError, match="dci_es_capacities"):
        evaluate(codes, factors, metrics=["dci_es"], settings={"dci_es_capacities": 1})
    with pytest.raises(BetavaeError, match="dci_es: 2 training rows given"):
        dci_es(codes[:3], factors[:3])
