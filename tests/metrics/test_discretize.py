"""The discretiser and the MI matrix against their definitions (numpy / sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from betavae.metrics import discrete_entropy, histogram_discretize, mutual_info_matrix


def test_histogram_rule_and_dtype():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 3)).astype(np.float32)
    labels = histogram_discretize(x, 20)
    for j in range(3):
        expected = np.digitize(x[:, j], np.histogram(x[:, j], 20)[1][:-1])
        assert np.array_equal(labels[:, j], expected)
    assert labels.min() == 1 and labels.max() == 20 and labels.dtype == np.int64


def test_constant_column_falls_in_one_bin():
    labels = histogram_discretize(np.full((50, 1), 4.2))
    assert len(np.unique(labels)) == 1


def test_integer_codes_map_one_to_one():
    x = np.arange(10.0)[:, None].repeat(3, axis=0)
    assert len(np.unique(histogram_discretize(x))) == 10


@pytest.mark.parametrize("shift", [0, -5])
def test_mi_matrix_equals_sklearn(shift):
    rng = np.random.default_rng(1)
    x = rng.integers(7, size=(400, 4)) + shift
    y = np.column_stack([x[:, 0] // 2, rng.integers(3, size=400)])
    m = mutual_info_matrix(x, y)
    for a in range(4):
        for b in range(2):
            assert m[a, b] == pytest.approx(mutual_info_score(y[:, b], x[:, a]), abs=1e-12)
    sym = mutual_info_matrix(x)
    assert np.allclose(sym, sym.T) and sym[1, 2] == pytest.approx(
        mutual_info_score(x[:, 1], x[:, 2]), abs=1e-12
    )
    h = discrete_entropy(y)
    assert h == pytest.approx([mutual_info_score(y[:, b], y[:, b]) for b in range(2)], abs=1e-12)
