"""Checks on the original files of Zambelli et al. (2020) when a user has them (spec §1, §8).

Set BETAVAE_MM_TRAIN and BETAVAE_MM_TEST to the paths of final_database_train.mat and
final_database_test.mat; without them these tests skip (nothing is bundled or downloaded).
"""

import os

import numpy as np
import pytest

from betavae.data.sensorimotor_files import load_sensorimotor

TRAIN, TEST = os.environ.get("BETAVAE_MM_TRAIN"), os.environ.get("BETAVAE_MM_TEST")
pytestmark = pytest.mark.skipif(not (TRAIN and TEST), reason="set BETAVAE_MM_TRAIN and BETAVAE_MM_TEST")


def test_real_files_properties():
    d = load_sensorimotor(TRAIN, TEST)
    assert d.train_input.shape == (7380, 28) and d.test.shape == (1487, 28)
    assert np.bincount(d.train_group, minlength=5)[1:].tolist() == [1845] * 4
    assert d.consecutive().mean() > 0.9  # older joints of row k+1 = newer joints of row k
    x = d.train_clean
    assert np.corrcoef(x[:, 8], x[:, 10])[0, 1] > 0.9 and np.corrcoef(x[:, 9], x[:, 11])[0, 1] > 0.9
    assert 0.15 < (x[:, 16] > 0).mean() < 0.30 and 0.05 < (x[:, 18] > 0).mean() < 0.15
