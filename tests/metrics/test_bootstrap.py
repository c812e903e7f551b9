"""Bootstrap confidence intervals of the array suite: replicates are documented resamples."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.errors import BetavaeError
from betavae.metrics import evaluate
from betavae.metrics.suite import percentile_intervals

METRICS = ["mig", "dci", "sap_continuous", "modularity", "irs", "unsupervised"]
FAST_DCI = {"dci_params": {"n_estimators": 5}}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2)
    factors = rng.integers(0, 4, size=(240, 3))
    codes = np.hstack([factors + 0.3 * rng.standard_normal((240, 3)), rng.standard_normal((240, 1))])
    return codes, factors


def test_percentile_interval_known_answer():
    draws = [{"a": float(v), "b": 1.0} for v in range(101)]
    got = percentile_intervals(draws, 0.95)
    assert got["a"] == pytest.approx([2.5, 97.5], rel=1e-12) and got["b"] == [1.0, 1.0]
    assert percentile_intervals([{"a": np.nan}, {"a": 2.0}], 0.5) == {"a": [2.0, 2.0]}


@pytest.mark.parametrize("separate", [False, True])
def test_intervals_are_percentiles_of_documented_resamples(data, separate):
    codes, factors = data
    kw = {"metrics": METRICS, "seed": 3, "settings": FAST_DCI, "n_jobs": 1}
    arrays = (codes[:160], factors[:160], codes[160:], factors[160:]) if separate else (codes, factors)
    r = evaluate(*arrays, bootstrap=7, bootstrap_seed=5, confidence=0.8, **kw)
    assert r["bootstrap"]["n"] == 7 and r["bootstrap"]["method"] == "percentile"
    # the documented scheme: per replicate, training indices then test indices
    rng = np.random.default_rng(5)
    ctr, ftr, cte, fte = codes[:160], factors[:160], codes[160:], factors[160:]
    draws = []
    for _ in range(7):
        i = rng.integers(0, 160, 160)
        j = rng.integers(0, 80, 80)
        if separate:
            again = evaluate(ctr[i], ftr[i], cte[j], fte[j], **kw)
        else:
            again = evaluate(np.r_[ctr[i], cte[j]], np.r_[ftr[i], fte[j]], **kw)
        draws.append(again["values"])
    expected = {k: list(np.percentile([d[k] for d in draws], [10, 90])) for k in r["values"]}
    assert set(r["intervals"]) == set(expected)
    for key, interval in expected.items():  # 80 % interval: the 10th and 90th percentiles
        assert r["intervals"][key] == pytest.approx(interval, rel=1e-12, abs=1e-15), key
    assert set(r["intervals"]) == set(r["values"])


def test_bootstrap_is_seeded_and_independent_of_workers(data):
    codes, factors = data
    kw = {"metrics": ["mig", "dci"], "settings": FAST_DCI, "bootstrap": 5}
    a = evaluate(codes, factors, n_jobs=1, **kw)
    b = evaluate(codes, factors, n_jobs=2, **kw)
    assert a["intervals"] == b["intervals"] and a["values"] == b["values"]
    assert a["values"] == evaluate(codes, factors, n_jobs=1, metrics=["mig", "dci"],
                                   settings=FAST_DCI)["values"]
    c = evaluate(codes, factors, n_jobs=1, bootstrap_seed=99, **kw)
    assert c["intervals"] != a["intervals"]
    lo, hi = a["intervals"]["mig"]
    assert lo <= hi and 0.0 <= lo and hi <= 1.0


def test_bad_bootstrap_arguments(data):
    codes, factors = data
    with pytest.raises(BetavaeError, match="bootstrap must be"):
        evaluate(codes, factors, metrics=["mig"], bootstrap=-1)
    with pytest.raises(BetavaeError, match="confidence must lie"):
        evaluate(codes, factors, metrics=["mig"], bootstrap=3, confidence=1.0)


@pytest.mark.parametrize("separate", [False, True])
def test_draws_that_repeat_the_data_give_intervals_of_zero_width(data, separate):
    codes, factors = data
    kw = {"metrics": METRICS, "seed": 3, "settings": FAST_DCI, "n_jobs": 1}
    arrays = (codes[:160], factors[:160], codes[160:], factors[160:]) if separate else (codes, factors, None, None)
    r = evaluate(*arrays, draws=[arrays, arrays, arrays], **kw)
    assert r["bootstrap"]["method"] == "draws" and r["bootstrap"]["n"] == 3 and r["bootstrap"]["seed"] is None
    for key, value in r["values"].items():
        assert r["intervals"][key] == [value, value] or np.isnan(value), key


def test_draws_are_checked(data):
    codes, factors = data
    with pytest.raises(BetavaeError, match="not both"):
        evaluate(codes, factors, metrics=["mig"], bootstrap=2, draws=[(codes, factors, None, None)])
    with pytest.raises(BetavaeError, match="test arrays exactly when"):
        evaluate(codes, factors, metrics=["mig"], draws=[(codes[:100], factors[:100], codes[100:], factors[100:])])
