"""Per-factor and per-pair breakdowns of MIG, DCI and InfoMEC: known answers."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.metrics import evaluate
from betavae.metrics.breakdown import shared_pairs

from .test_infomec import grid


def test_shared_pairs_known_answer():
    shares = np.array([[1.0, 0.0, 0.0], [0.0, 0.7, 0.4], [0.0, 0.2, 0.6]])
    s = shared_pairs(shares)
    assert s[1, 2] == pytest.approx(0.4) and s[0, 1] == 0.0 and s[0, 0] == 1.0
    assert np.array_equal(s, s.T)


@pytest.fixture(scope="module")
def shared():
    """z0 = a alone; z1 = 5 b + c holds b and c together: the pair (b, c) shares a latent."""
    factors = grid((3, 4, 5), 12, seed=5)
    codes = np.stack([factors[:, 0], 5.0 * factors[:, 1] + factors[:, 2]], axis=1)
    r = evaluate(
        codes, factors, metrics=["mig", "dci", "infomec"], seed=0, n_jobs=1, breakdown=True,
        factor_names=["a", "b", "c"], settings={"dci_params": {"n_estimators": 20}},
    )
    return r


def test_mig_breakdown(shared):
    b = shared["breakdown"]
    # every factor has a perfect gap, so MIG cannot see that b and c share z1: the pair can
    for f in "abc":
        assert b[f"mig[{f}]"] == pytest.approx(1.0, abs=1e-12)
    assert [b[f"mig.top_code[{f}]"] for f in "abc"] == [0.0, 1.0, 1.0]
    assert b["mig.shared[b,c]"] == pytest.approx(1.0, abs=1e-12)
    assert b["mig.shared[a,b]"] == pytest.approx(0.0, abs=1e-12)
    assert b["mig.shared[a,c]"] == pytest.approx(0.0, abs=1e-12)
    assert np.mean([b[f"mig[{f}]"] for f in "abc"]) == pytest.approx(shared["values"]["mig"])


def test_dci_breakdown(shared):
    b, v = shared["breakdown"], shared["values"]
    assert b["dci.shared[b,c]"] > 0.95 and b["dci.shared[a,b]"] < 0.05
    assert b["dci.completeness[a]"] > 0.9 and b["dci.disentanglement[z0]"] > 0.9
    # z1 splits its importance between two factors: its disentanglement is about 1 - log3(2)
    assert b["dci.disentanglement[z1]"] == pytest.approx(1 - np.log(2) / np.log(3), abs=0.05)
    mean_test = np.mean([b[f"dci.informativeness_test[{f}]"] for f in "abc"])
    assert mean_test == pytest.approx(v["dci.informativeness_test"])


def test_infomec_breakdown(shared):
    b, v = shared["breakdown"], shared["values"]
    # NMI = [[1, 0], [0, 1], [0, 1]]: z0 informs about one factor, z1 about two of three
    assert b["infomec.infom[z0]"] == pytest.approx(1.0, abs=1e-12)
    assert b["infomec.infom[z1]"] == pytest.approx((1 / 2 - 1 / 3) / (2 / 3), abs=1e-12)
    assert all(b[f"infomec.infoc[{f}]"] == pytest.approx(1.0, abs=1e-12) for f in "abc")
    assert b["infomec.shared[b,c]"] == pytest.approx(1.0, abs=1e-12)
    assert b["infomec.shared[a,c]"] == pytest.approx(0.0, abs=1e-12)
    assert np.mean([b[f"infomec.infoe[{f}]"] for f in "abc"]) == pytest.approx(v["infomec.infoe"])


def test_breakdown_intervals_and_default_off():
    factors = grid((3, 4), 20, seed=6)
    codes = factors + 0.3 * np.random.default_rng(6).standard_normal(factors.shape)
    plain = evaluate(codes, factors, metrics=["mig"])
    assert "breakdown" not in plain
    r = evaluate(codes, factors, metrics=["mig", "infomec"], breakdown=True, bootstrap=4)
    assert set(r["breakdown_intervals"]) == set(r["breakdown"])
    lo, hi = r["breakdown_intervals"]["mig[0]"]
    assert lo <= hi
    assert r["values"] == plain["values"] | evaluate(codes, factors, metrics=["infomec"])["values"]
