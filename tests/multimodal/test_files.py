"""The .mat/.npz loader and writer (spec §8), on synthetic files written in tmp."""

import numpy as np
import pytest
import scipy.io

from betavae.data.sensorimotor_files import as_train56, load_sensorimotor, save_sensorimotor
from betavae.data.sensorimotor_layout import MUTED
from betavae.errors import BetavaeError


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


@pytest.mark.parametrize("suffix", [".mat", ".npz"])
def test_non_finite_values_are_named_with_key_row_and_column(tmp_path, small, suffix):
    """A NaN (or ±inf) anywhere says NaN and where, not a range of the other values (#18)."""
    train = as_train56(small).copy()
    train[3, 28 + 5] = np.nan
    train[7, 2] = np.inf
    path = save_sensorimotor(tmp_path / f"nan{suffix}", train, small.test)
    with pytest.raises(BetavaeError) as err:
        load_sensorimotor(path, path)
    assert str(err.value) == (f"{path}: 'final_database_train' row 3 column 33 (from 0) is NaN (2 in all, "
                              "in 2 rows); every value must be a finite number")
    test = small.test.copy()
    test[4, 0] = -np.inf
    path = save_sensorimotor(tmp_path / f"inf{suffix}", as_train56(small), test)
    with pytest.raises(BetavaeError) as err:
        load_sensorimotor(path, path)
    assert str(err.value) == (f"{path}: 'final_database_test' row 4 column 0 (from 0) is -inf (1 in all, "
                              "in 1 rows); every value must be a finite number")
    clean = small.train_clean.copy()
    clean[0, 27] = np.nan
    np.savez(tmp_path / "clean.npz", clean=clean)
    with pytest.raises(BetavaeError, match=r"'clean' row 0 column 27 \(from 0\) is NaN"):
        load_sensorimotor(tmp_path / "clean.npz")


def test_out_of_range_targets_say_where(tmp_path, small):
    train = as_train56(small).copy()
    train[3, 28 + 5] = 1.5
    train[9, 28 + 1] = -3.0
    path = tmp_path / "range.mat"
    scipy.io.savemat(path, {"final_database_train": train})
    with pytest.raises(BetavaeError) as err:
        load_sensorimotor(path)
    assert str(err.value) == (f"{path} 'final_database_train' (input = columns 0–27, target = 28–55) target: "
                              "clean values must lie in [-1, 1]; row 3 column 5 (from 0) is 1.5 (2 in all, in 2 rows)")
    train = as_train56(small).copy()
    train[2, 0], train[2, 28] = 0.25, 0.75  # input neither target nor muted
    scipy.io.savemat(path, {"final_database_train": train})
    with pytest.raises(BetavaeError) as err:
        load_sensorimotor(path)
    assert str(err.value).endswith(": input row 2 column 0 is 0.25, neither its target 0.75 nor muted (-2); "
                                   "1 rows affected")


def test_clean_rows_under_the_training_key_get_a_hint(tmp_path, small):
    """A clean (N, 28) training file without augment: say it looks clean and what to do (#23)."""
    path = tmp_path / "clean28.mat"
    scipy.io.savemat(path, {"final_database_train": small.train_clean})
    n = len(small.train_clean)
    with pytest.raises(BetavaeError) as err:
        load_sensorimotor(path)
    assert str(err.value) == (f"{path}: 'final_database_train' has shape ({n}, 28) (float64); expected (N, 56) "
                              "numbers; (N, 28) looks like clean rows: save them under the key 'clean', or turn "
                              "augmentation on (data.augment=true; load_sensorimotor(..., augment=True)) to build "
                              "the four muting groups")
    with pytest.raises(BetavaeError) as err:  # other widths keep the plain message
        scipy.io.savemat(path, {"final_database_train": np.zeros((4, 30))})
        load_sensorimotor(path)
    assert str(err.value).endswith("expected (N, 56) numbers")


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
