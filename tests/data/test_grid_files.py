"""Shapes3D (.h5) and MPI3D (.npz) loaders on small files written here in the real formats
(same keys, dtypes and layout, a reduced grid passed explicitly): round trips, the index
formula at known points, and one error per failure mode naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from betavae.data.grid import GridImages
from betavae.data.mpi3d import MPI3DConfig, load_mpi3d
from betavae.data.shapes3d import FACTOR_NAMES, Shapes3DConfig, load_shapes3d
from betavae.errors import BetavaeError

h5py = pytest.importorskip("h5py")

S3_SIZES = (2, 2, 3, 2, 2, 3)  # 144 images in the Shapes3D layout (orientation fastest)
S3_N = int(np.prod(S3_SIZES))
MPI_SIZES = (2, 1, 2, 1, 2, 3, 2)  # 48 images in the MPI3D layout
MPI_N = int(np.prod(MPI_SIZES))


def grid_classes(sizes):
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), 1)


def stamped_images(n, seed=0):
    """(n, 64, 64, 3) uint8 noise with the row number in pixel (0, 0, 0) (n ≤ 256)."""
    imgs = np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    imgs[:, 0, 0, 0] = np.arange(n)
    return imgs


def shapes3d_labels(sizes=S3_SIZES):
    classes = grid_classes(sizes)
    tables = [np.linspace(0, 1, sizes[0], endpoint=False), np.linspace(0, 1, sizes[1], endpoint=False),
              np.linspace(0, 1, sizes[2], endpoint=False), np.linspace(0.75, 1.25, sizes[3]),
              np.arange(sizes[4], dtype=float), np.linspace(-30, 30, sizes[5])]
    return np.stack([tables[k][classes[:, k]] for k in range(6)], 1)


def write_h5(path, images, labels, **extra):
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(16, *images.shape[1:]), compression="gzip")
        f.create_dataset("labels", data=labels)
        for k, v in extra.items():
            f.create_dataset(k, data=v)
    return path


@pytest.fixture
def shapes3d_file(tmp_path):
    return write_h5(tmp_path / "3dshapes.h5", stamped_images(S3_N), shapes3d_labels())


def test_shapes3d_round_trip_and_index_formula(shapes3d_file):
    data = load_shapes3d(shapes3d_file, factor_sizes=S3_SIZES, progress=False)
    assert isinstance(data, GridImages) and len(data) == S3_N
    assert data.factor_names == FACTOR_NAMES and data.factor_sizes == S3_SIZES
    assert data.observation_shape == (3, 64, 64) and data.pixel_max == 255
    src = stamped_images(S3_N)
    np.testing.assert_array_equal(data.images(np.arange(S3_N)), src.transpose(0, 3, 1, 2))
    # index = 72·floor + 36·wall + 12·object + 6·scale + 3·shape + orientation
    factors = np.array([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 2], [0, 0, 0, 0, 1, 0], [1, 0, 2, 1, 0, 1],
                        [1, 1, 2, 1, 1, 2]])
    expected = [0, 2, 3, 72 + 24 + 6 + 1, 143]
    np.testing.assert_array_equal(data.index(factors), expected)
    np.testing.assert_array_equal(data.observations(factors)[:, 0, 0, 0], expected)
    np.testing.assert_array_equal(data.factors(expected), factors)
    draw = data.sample_factors(500, np.random.default_rng(0))
    assert draw.shape == (500, 6) and (draw.max(0) == np.array(S3_SIZES) - 1).all()


def test_shapes3d_full_size_is_the_default():
    from betavae.data.shapes3d import FACTOR_SIZES

    assert FACTOR_SIZES == (10, 10, 10, 8, 4, 15) and int(np.prod(FACTOR_SIZES)) == 480_000


def test_shapes3d_config_builds_and_rejects_a_small_file(shapes3d_file):
    with pytest.raises(BetavaeError, match=r"3dshapes.h5: dataset 'images' has shape \(144, 64, 64, 3\).*expected \(480000"):
        Shapes3DConfig(path=shapes3d_file).build(progress=False)


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("not_h5", "cannot be read as HDF5"),
    ("truncated", "cannot be read as HDF5"),
    ("no_labels", r"missing dataset\(s\) labels \(found: images\)"),
    ("labels_dtype", r"dataset 'labels' has shape \(144, 6\) and dtype float32, expected \(144, 6\) float64"),
    ("images_shape", r"dataset 'images' has shape \(144, 64, 64, 1\)"),
    ("value_count", r"labels column 4 \(shape\) has 1 distinct values, expected 2"),
    ("order", r"labels are not in grid order .* first mismatch at row 1"),
])
def test_shapes3d_errors_name_the_file(tmp_path, case, message):
    path = tmp_path / "3dshapes.h5"
    images, labels = stamped_images(S3_N), shapes3d_labels()
    if case == "not_h5":
        path.write_bytes(b"plain text, not HDF5" * 100)
    elif case == "truncated":
        raw = write_h5(path, images, labels).read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    elif case == "no_labels":
        with h5py.File(path, "w") as f:
            f.create_dataset("images", data=images)
    elif case == "labels_dtype":
        write_h5(path, images, labels.astype(np.float32))
    elif case == "images_shape":
        write_h5(path, images[..., :1], labels)
    elif case == "value_count":
        labels[:, 4] = 0.0
        write_h5(path, images, labels)
    elif case == "order":
        write_h5(path, images, labels[[0, 2, 1, *range(3, S3_N)]])
    with pytest.raises(BetavaeError, match=f"Shapes3D file {path}: {message}"):
        load_shapes3d(path, factor_sizes=S3_SIZES, progress=False)


@pytest.fixture
def mpi3d_file(tmp_path):
    path = tmp_path / "mpi3d_toy.npz"
    np.savez_compressed(path, images=stamped_images(MPI_N, seed=1))
    return path


def test_mpi3d_round_trip_and_index_formula(mpi3d_file):
    data = load_mpi3d(mpi3d_file, factor_sizes=MPI_SIZES, progress=False)
    assert len(data) == MPI_N and data.factor_sizes == MPI_SIZES and data.observation_shape == (3, 64, 64)
    np.testing.assert_array_equal(data.images(np.arange(MPI_N)), stamped_images(MPI_N, seed=1).transpose(0, 3, 1, 2))
    # bases (24, 24, 12, 12, 6, 2, 1): last factor (vertical_axis) fastest
    factors = np.array([[0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0, 0],
                        [0, 0, 1, 0, 0, 0, 0], [1, 0, 1, 0, 1, 2, 1]])
    expected = [1, 2, 6, 12, 24 + 12 + 6 + 4 + 1]
    np.testing.assert_array_equal(data.observations(factors)[:, 0, 0, 0], expected)
    np.testing.assert_array_equal(data.factors(expected), factors)


def test_mpi3d_cache_rebuilt_when_the_file_changes(mpi3d_file):
    import os

    first = load_mpi3d(mpi3d_file, factor_sizes=MPI_SIZES, progress=False)
    assert load_mpi3d(mpi3d_file, factor_sizes=MPI_SIZES, progress=False).pixels.filename == first.pixels.filename
    np.savez_compressed(mpi3d_file, images=stamped_images(MPI_N, seed=2))
    st = mpi3d_file.stat()
    os.utime(mpi3d_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = load_mpi3d(mpi3d_file, factor_sizes=MPI_SIZES, progress=False)
    np.testing.assert_array_equal(again.images([5]), stamped_images(MPI_N, seed=2)[[5]].transpose(0, 3, 1, 2))


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("suffix", "expected an .npz archive"),
    ("no_images", r"no array 'images' \(found: imgs\)"),
    ("shape", r"array 'images' has shape \(48, 64, 64, 1\) and dtype uint8, expected \(48, 64, 64, 3\) uint8"),
    ("dtype", r"array 'images' has shape \(48, 64, 64, 3\) and dtype float32"),
    ("full_size", r"expected \(1036800, 64, 64, 3\) uint8"),
    ("truncated", "truncated|corrupt"),
    ("not_zip", "cannot be read as an .npz archive"),
])
def test_mpi3d_errors_name_the_file(tmp_path, case, message):
    path = tmp_path / ("mpi3d.npy" if case == "suffix" else "mpi3d.npz")
    images = stamped_images(MPI_N)
    if case == "suffix":
        np.save(path, images)
    elif case == "no_images":
        np.savez(path, imgs=images)
    elif case == "shape":
        np.savez(path, images=images[..., :1])
    elif case in ("dtype",):
        np.savez(path, images=images.astype(np.float32))
    elif case in ("full_size",):
        np.savez(path, images=images)
    elif case == "truncated":
        np.savez(path, images=images)
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) * 2 // 3])
    elif case == "not_zip":
        path.write_bytes(b"nothing here")
    if case == "full_size":
        with pytest.raises(BetavaeError, match=message):
            MPI3DConfig(path=path).build(progress=False)
        return
    with pytest.raises(BetavaeError, match=str(path) + ".*" + message):
        load_mpi3d(path, factor_sizes=MPI_SIZES, progress=False)


def test_metrics_score_a_file_grid_source(shapes3d_file):
    """Every metric path runs unchanged on an RGB file source: an encoder that reads the first
    pixel (the row number) and hands back the factor classes scores near the top."""
    from betavae.experiments.evaluate import evaluate_encoder

    data = load_shapes3d(shapes3d_file, factor_sizes=S3_SIZES, progress=False)

    def encode(x):
        rows = np.asarray(x)[:, 0, 0, 0].astype(np.int64)  # encoders get raw uint8 observations
        return data.factors(rows) + 0.01 * np.random.default_rng(len(x)).random((len(x), 6))

    sizes = {"num_train": 400, "num_test": 200, "sampled_train": 60, "sampled_eval": 30, "sampled_batch": 8,
             "num_variance_estimate": 200}
    out = evaluate_encoder(encode, data, ["mig", "beta_vae", "factor_vae"], preset="fast", sizes=sizes)["values"]
    assert out["mig"] > 0.9
    assert out["beta_vae.eval_accuracy"] > 0.9 and out["factor_vae.eval_accuracy"] > 0.9
