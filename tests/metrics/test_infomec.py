"""InfoMEC (Hsu et al. 2023): known answers from the definition, and an MI estimator that is
exact on tied (quantised) codes and independent of scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from betavae.metrics import evaluate, infomec
from betavae.metrics.discretize import contingency_mutual_info
from betavae.metrics.infomec import active_dimensions, infom_infoc, normalized_mi


def grid(sizes, reps, seed=0):
    """Every factor combination ``reps`` times, shuffled: independent, exactly uniform factors."""
    g = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(sizes))
    g = np.repeat(g, reps, axis=0)
    return g[np.random.default_rng(seed).permutation(len(g))]


def test_contingency_mi_is_the_plug_in_formula():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 4, 500), rng.integers(0, 3, 500)
    counts = np.zeros((4, 3))
    np.add.at(counts, (a, b), 1)
    assert contingency_mutual_info(counts) == pytest.approx(mutual_info_score(a, b), abs=1e-14)
    assert contingency_mutual_info(np.diag([5, 5])) == pytest.approx(np.log(2))
    assert contingency_mutual_info(np.ones((1, 4))) == 0.0


def test_perfect_codes_known_answer():
    factors = grid((3, 4, 5), 10)
    r = infomec(factors.astype(float), factors)
    # quantised codes equal to the factors: NMI is the identity exactly (ties are not a problem)
    assert r["infomec.infom"] == pytest.approx(1.0, abs=1e-12)
    assert r["infomec.infoc"] == pytest.approx(1.0, abs=1e-12)
    assert 0.95 < r["infomec.infoe"] <= 1.0


def test_shared_code_known_answer():
    """z0 = 4 v0 + v1 encodes both factors, z1 = v0: NMI = [[1, 1], [1, 0]], so each of
    InfoM and InfoC is ((1/2 + 1)/2 − 1/2) / (1 − 1/2) = 1/2."""
    factors = grid((4, 4), 6)
    codes = np.stack([4.0 * factors[:, 0] + factors[:, 1], factors[:, 0]], axis=1)
    nmi = normalized_mi(codes.astype(np.int64), factors)
    assert nmi == pytest.approx(np.array([[1.0, 1.0], [1.0, 0.0]]), abs=1e-12)
    r = infomec(codes, factors)
    assert r["infomec.infom"] == pytest.approx(0.5) and r["infomec.infoc"] == pytest.approx(0.5)


def test_noise_codes_hold_no_explicit_information():
    factors = grid((3, 4), 200)
    noise = np.random.default_rng(2).standard_normal((len(factors), 3))
    assert abs(infomec(noise, factors)["infomec.infoe"]) < 0.02


def test_edge_rules():
    nmi = np.array([[0.8, 0.0, 0.1], [0.0, 0.0, 0.9]])
    # the middle dimension has no information: left out of InfoM
    r = infom_infoc(nmi, np.array([True, True, True]))
    assert r["infomec.infom"] == pytest.approx(((0.8 / 0.8 + 0.9 / 1.0) / 2 - 0.5) / 0.5)
    assert r["infomec.infoc"] == pytest.approx(((0.8 / 0.9 + 1.0) / 2 - 1 / 3) / (2 / 3))
    # one factor: InfoM = 1; an inactive dimension (range < 1/20 of the largest) is pruned
    assert infom_infoc(nmi[:1], np.array([True, False, True]))["infomec.infom"] == 1.0
    assert active_dimensions(np.array([[0.0, 0.0, 0.0], [1.0, 0.04, 0.06]])).tolist() == [True, False, True]


def test_suite_equals_function():
    factors = grid((3, 5), 30, seed=3)
    codes = factors + 0.4 * np.random.default_rng(3).standard_normal(factors.shape)
    assert evaluate(codes, factors, metrics=["infomec"])["values"] == infomec(codes, factors)
