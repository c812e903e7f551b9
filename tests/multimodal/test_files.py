"""The .mat/.npz loader and writer (spec §8), on synthetic files written in tmp."""

import numpy as np
import pytest
import scipy.io

from betavae.errors import BetavaeError
from betavae.multimodal.files import as_train56, load_sensorimotor, save_sensorimotor
from betavae.multimodal.layout import MUTED


@pytest.fixture
def small(sim_tiny):
    return sim_tiny


@pytest.mark.parametrize("suffix", [".mat", ".npz"])
def test_round_trip(tmp_path, small, suffix):
    path = save_sensorimotor(tmp_path / f"data{suffix}", as_train56(small), small.test)
    got = load_sensorimotor(path, path)
    np.testing.assert_array_equal(got.train_input, small.train_input)
    np.testing.assert_array_equal(got.train_target, small.train_target)
    np.testing.assert_array_equal(got.train_group, small.train_group)
    np.testing.assert_array_equal(got.test, small.test)
    assert (got.consecutive() == small.consecutive()).all()


def test_group_inferred_from_pattern_not_position(tmp_path, small):
    train = as_train56(small)
    perm = np.random.default_rng(0).permutation(len(train))
    path = tmp_path / "shuffled.mat"
    scipy.io.savemat(path, {"final_database_train": train[perm]})
    got = load_sensorimotor(path)
    np.testing.assert_array_equal(got.train_group, small.train_group[perm])


def test_clean_only_file_is_augmented(tmp_path, small):
    path = tmp_path / "clean.npz"
    np.savez(path, clean=small.train_clean)
    got = load_sensorimotor(path)
    np.testing.assert_array_equal(got.train_input, small.train_input)
    path2 = tmp_path / "clean28.mat"
    scipy.io.savemat(path2, {"final_database_train": small.train_clean})
    np.testing.assert_array_equal(load_sensorimotor(path2, augment=True).train_input, small.train_input)


def test_input_target_keys(tmp_path, small):
    path = tmp_path / "it.npz"
    np.savez(path, input=small.train_input, target=small.train_target)
    assert (load_sensorimotor(path).train_group == small.train_group).all()


@pytest.mark.parametrize("array, match", [
    (np.zeros((10, 55)), r"has shape \(10, 55\).*expected \(N, 56\)"),
    (np.zeros((10, 56, 1)), r"expected \(N, 56\)"),
])
def test_wrong_shape(tmp_path, array, match):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, {"final_database_train": array})
    with pytest.raises(BetavaeError, match=match):
        load_sensorimotor(path)


def test_wrong_key_and_missing_file(tmp_path):
    path = tmp_path / "other.mat"
    scipy.io.savemat(path, {"something": np.zeros((3, 56))})
    with pytest.raises(BetavaeError, match=r"no array 'final_database_train' \(found: something\)"):
        load_sensorimotor(path)
    with pytest.raises(BetavaeError, match="no such file"):
        load_sensorimotor(tmp_path / "missing.mat")


def test_hdf5_mat_and_garbage(tmp_path):
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + b"\0" * 200)
    with pytest.raises(BetavaeError, match="v7.3"):
        load_sensorimotor(v73)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(BetavaeError, match="not a readable MATLAB"):
        load_sensorimotor(junk)


def test_value_checks(tmp_path, small):
    train = as_train56(small).copy()
    train[3, 28 + 5] = 1.5  # target outside [-1, 1]
    path = tmp_path / "range.mat"
    scipy.io.savemat(path, {"final_database_train": train})
    with pytest.raises(BetavaeError, match=r"must lie in \[-1, 1\]"):
        load_sensorimotor(path)
    train = as_train56(small).copy()
    train[2, 0] = train[2, 28] + 0.5  # input neither target nor muted
    scipy.io.savemat(path, {"final_database_train": train})
    with pytest.raises(BetavaeError, match="input row 2 column 0"):
        load_sensorimotor(path)


def test_unknown_mask_pattern_strict_and_lenient(tmp_path, small, caplog):
    train = as_train56(small).copy()
    train[0, 0] = MUTED  # a complete row with one muted entry: no group has this pattern
    path = tmp_path / "odd.mat"
    scipy.io.savemat(path, {"final_database_train": train})
    with pytest.raises(BetavaeError, match="match none of the four muting groups"):
        load_sensorimotor(path)
    got = load_sensorimotor(path, strict=False)
    assert got.train_group[0] == 0 and "match none" in caplog.text


def test_writer_rejects_other_suffix(tmp_path, small):
    with pytest.raises(BetavaeError, match=".mat or .npz"):
        save_sensorimotor(tmp_path / "x.csv", as_train56(small), small.test)
