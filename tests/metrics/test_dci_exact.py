"""DCI equals disentanglement_lib's to the last digit: its classifiers draw from NumPy's global
stream in factor order, and the per-factor (parallel) fits reproduce that stream."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from betavae.errors import BetavaeError
from betavae.metrics import completeness, dci, disentanglement, evaluate
from betavae.metrics.dci import dci_factor, gbt_streams, trees_per_stage
from betavae.metrics.estimators import GBT_DEFAULTS


def sequential_reference(x_train, y_train, x_test, y_test, seed):
    """disentanglement_lib's DCI loop: seed the global stream once, then one
    ``GradientBoostingClassifier()`` per factor in order (random_state=None)."""
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        columns, acc_train, acc_test = [], [], []
        for k in range(y_train.shape[1]):
            model = GradientBoostingClassifier()
            model.fit(x_train, y_train[:, k])
            columns.append(np.abs(model.feature_importances_))
            acc_train.append(np.mean(model.predict(x_train) == y_train[:, k]))
            acc_test.append(np.mean(model.predict(x_test) == y_test[:, k]))
    finally:
        np.random.set_state(saved)
    return np.stack(columns, axis=1), float(np.mean(acc_train)), float(np.mean(acc_test))


@pytest.fixture(scope="module")
def arrays():
    """Noisy, mixed codes (so the boosting has near-ties the seed decides) of factors with
    2 (binary: one tree per stage), 3 and 5 classes; float32 like an encoder's output."""
    rng = np.random.default_rng(7)
    factors = np.stack([rng.integers(0, s, size=450) for s in (2, 3, 5)], axis=1)
    mix = rng.standard_normal((3, 4))
    codes = (factors @ mix + 0.8 * rng.standard_normal((450, 4))).astype(np.float32)
    return codes[:300], factors[:300], codes[300:], factors[300:]


@pytest.mark.parametrize("seed", [0, 11])
def test_dci_equals_the_sequential_global_stream_exactly(arrays, seed):
    importance, acc_train, acc_test = sequential_reference(*arrays, seed)
    expected = {
        "dci.disentanglement": disentanglement(importance),
        "dci.completeness": completeness(importance),
        "dci.informativeness_train": acc_train,
        "dci.informativeness_test": acc_test,
    }
    assert dci(*arrays, seed=seed, n_jobs=1) == expected
    assert dci(*arrays, seed=seed, n_jobs=2) == expected
    suite = evaluate(*arrays, metrics=["dci"], seed=seed, n_jobs=2, backend="processes")
    assert suite["values"] == expected


def test_seeding_each_factor_separately_would_differ(arrays):
    """The exactness is not vacuous: a fresh stream per factor changes the importances."""
    importance, _, _ = sequential_reference(*arrays, 0)
    x_train, y_train = arrays[0], arrays[1]
    k = 2
    separate = GradientBoostingClassifier(random_state=0).fit(x_train, y_train[:, k])
    assert not np.array_equal(np.abs(separate.feature_importances_), importance[:, k])


def test_one_draw_per_tree(arrays):
    """A fit draws exactly n_estimators x trees-per-stage numbers from its RandomState."""
    x_train, y_train = arrays[0], arrays[1]
    params = {**GBT_DEFAULTS, "n_estimators": 7}
    for k in range(y_train.shape[1]):
        state = np.random.RandomState(5)
        GradientBoostingClassifier(random_state=state, **params).fit(x_train, y_train[:, k])
        ref = np.random.RandomState(5)
        for _ in range(7 * trees_per_stage(y_train[:, k])):
            ref.randint(0, 2**31 - 1)
        assert state.get_state()[2] == ref.get_state()[2]
        assert np.array_equal(state.get_state()[1], ref.get_state()[1])
    assert [trees_per_stage(y_train[:, k]) for k in range(3)] == [1, 3, 5]


def test_a_fit_that_draws_differently_is_an_error(arrays):
    x_train, y_train, x_test, y_test = arrays
    params = {**GBT_DEFAULTS, "n_estimators": 3}
    ((start, end),) = gbt_streams(np.random.RandomState(0), y_train[:, :1], params)
    dci_factor(x_train, y_train[:, 0], x_test, y_test[:, 0], "gbt", params, (start, end))
    with pytest.raises(BetavaeError, match="cannot be reproduced"):
        dci_factor(x_train, y_train[:, 0], x_test, y_test[:, 0], "gbt", params, (start, start))
    with pytest.raises(BetavaeError, match="subsample=1.0"):
        gbt_streams(np.random.RandomState(0), y_train, {**params, "subsample": 0.5})
