"""The suite runner: parallel == sequential, suite == individual functions, presets, records."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.metrics import (
    ARRAY_METRICS,
    dci,
    dci_es,
    evaluate,
    explicitness,
    infomec,
    irs,
    mig,
    modularity,
    sample_codes,
    sap,
    sap_continuous,
    unsupervised,
)
from betavae.metrics._parallel import Task, partition, run_tasks


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    factors = np.stack([rng.integers(s, size=450) for s in (2, 3, 5)], axis=1)
    codes = np.hstack(
        [factors + 0.3 * rng.standard_normal((450, 3)), rng.standard_normal((450, 2))]
    )
    return (codes @ np.linalg.qr(rng.standard_normal((5, 5)))[0]).astype(np.float32), factors


@pytest.fixture(scope="module")
def parallel(data):
    return evaluate(*data, seed=4, n_jobs=2)


def test_parallel_equals_sequential(data, parallel):
    sequential = evaluate(*data, seed=4, n_jobs=1)
    assert parallel["values"] == sequential["values"]  # exact, not approximate
    assert parallel["n_jobs"] == 2 and sequential["n_jobs"] == 1


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_dci_parallel_equals_sequential(data, backend):
    assert dci(*data, seed=9, n_jobs=1) == dci(*data, seed=9, n_jobs=2, backend=backend)


def test_suite_equals_individual_functions(data, parallel):
    codes, factors = data
    n = 300  # ceil(2/3 * 450)
    individual = {
        **mig(codes, factors),
        **dci(codes, factors, seed=4),
        **sap(codes, factors, seed=4),
        **sap_continuous(codes[:n], factors[:n]),
        **modularity(codes[:n], factors[:n]),
        **explicitness(codes, factors, seed=4),
        **irs(codes, factors),
        **unsupervised(codes),
        **dci_es(codes, factors, seed=4),
        **infomec(codes, factors),
    }
    assert parallel["values"] == individual


def test_separate_test_arrays_equal_the_split(data, parallel):
    codes, factors = data
    r = evaluate(codes[:300], factors[:300], codes[300:], factors[300:], seed=4, n_jobs=2)
    for key in (
        "dci.disentanglement",
        "dci.informativeness_test",
        "sap",
        "sap.continuous",
        "modularity",
        "explicitness.test",
    ):
        assert r["values"][key] == parallel["values"][key], key
    # MIG, IRS, unsupervised: all rows of a single array, the train arrays otherwise
    assert r["values"]["mig"] == mig(codes[:300], factors[:300])["mig"]
    assert (r["n_train"], r["n_test"], r["n_all"]) == (300, 150, 300)
    assert (parallel["n_train"], parallel["n_test"], parallel["n_all"]) == (300, 150, 450)


def test_generator_seed_maps_to_one_base_seed(data):
    a = evaluate(
        *data,
        seed=np.random.default_rng(5),
        metrics=["dci"],
        n_jobs=2,
        settings={"dci_params": {"n_estimators": 10}},
    )
    b = evaluate(
        *data,
        seed=a["seed"],
        metrics=["dci"],
        n_jobs=2,
        settings={"dci_params": {"n_estimators": 10}},
    )
    assert a["values"] == b["values"]
    assert a["seed"] == int(np.random.default_rng(5).integers(0, 2**63 - 1))


def test_seed_changes_dci(data):
    kw = {"metrics": ["dci"], "settings": {"dci_params": {"n_estimators": 10, "max_features": 2}}}
    assert evaluate(*data, seed=1, **kw)["values"] != evaluate(*data, seed=2, **kw)["values"]


def test_records(parallel):
    assert set(parallel) >= {
        "values",
        "settings",
        "seed",
        "versions",
        "seconds",
        "wall_seconds",
        "warnings",
    }
    s = parallel["settings"]
    assert s["name"] == "default" and s["num_bins"] == 20
    assert s["dci_params"]["n_estimators"] == 100 and s["dci_params"]["max_depth"] == 3
    assert s["svc_params"] == {
        **s["svc_params"],
        "C": 0.01,
        "class_weight": "balanced",
        "dual": False,
    }
    assert s["logreg_params"]["solver"] == "lbfgs" and s["logreg_params"]["max_iter"] == 100
    assert set(parallel["versions"]) == {"numpy", "scipy", "scikit-learn"}
    assert set(parallel["seconds"]) == {"shared", *ARRAY_METRICS}
    assert all(isinstance(v, float) for v in parallel["values"].values())


def test_fast_preset_and_overrides(data, parallel):
    fast = evaluate(*data, preset="fast", seed=4, n_jobs=2)
    assert fast["values"] == evaluate(*data, preset="fast", seed=4, n_jobs=1)["values"]
    assert fast["settings"]["dci_classifier"] == "hist_gbt"
    exact_keys = [
        "mig",
        "modularity",
        "sap.continuous",
        "irs",
        "unsupervised.gaussian_total_correlation",
    ]
    for key in exact_keys:  # below max_train the fast preset only changes DCI
        assert fast["values"][key] == parallel["values"][key]
    assert fast["values"]["dci.disentanglement"] == pytest.approx(
        parallel["values"]["dci.disentanglement"], abs=0.1
    )
    small = evaluate(
        *data, preset="fast", settings={"max_train": 100, "max_test": 50}, metrics=["sap"], seed=4
    )
    assert small["settings"]["max_train"] == 100
    assert (
        small["values"]["sap"]
        == sap(*[a[:100] for a in data], *[a[300:350] for a in data], seed=4)["sap"]
    )


def test_partition_is_optimal_for_measured_gbt_costs():
    # measured seconds of one GradientBoostingClassifier per factor with 3, 4, 6, 8, 10 classes
    costs = [6.67, 8.59, 13.28, 18.08, 22.57]
    bins = partition(costs, 2)
    spans = sorted(sum(costs[i] for i in b) for b in bins)
    assert spans[-1] == pytest.approx(35.85)  # greedy LPT would give 37.9
    assert sorted(i for b in bins for i in b) == list(range(5))


def test_run_tasks_with_wrong_costs_still_runs_everything():
    tasks = [Task(str(i), lambda i=i: i * i, cost=float(10 - i)) for i in range(10)]
    results, seconds = run_tasks(tasks, n_jobs=2)
    assert results == {str(i): i * i for i in range(10)} and set(seconds) == set(results)


def test_sample_codes_batch_size_only_changes_speed(grid_source):
    def encode(x):
        return 2.0 * x

    a = sample_codes(encode, grid_source, 500, seed=3, batch_size=7)
    b = sample_codes(encode, grid_source, 500, seed=3, batch_size=500)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].shape == (500, 5) and a[1].dtype == np.int64
    assert np.array_equal(a[0], 2.0 * a[1])
