"""SmallNORB (NORB binary matrices, optionally gzipped) and Cars3D (MATLAB files) on small
files written here in the real formats with a reduced grid passed explicitly."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from scipy.io import savemat

from betavae.data.cars3d import Cars3DConfig, load_cars3d
from betavae.data.imagefiles import fit_array
from betavae.data.smallnorb import SPLITS, NuisanceInstance, SmallNORBConfig, load_smallnorb_grid
from betavae.errors import BetavaeError

NORB_SIZES = (2, 2, 2, 3, 2)  # category, instance, elevation, azimuth, lighting: 48 images
CARS_SIZES = (2, 3, 2)  # elevation, azimuth, object: 12 images


def norb_matrix(arr: np.ndarray, magic: int) -> bytes:
    dims = list(arr.shape) + [1] * max(0, 3 - arr.ndim)
    return np.array([magic, arr.ndim, *dims], "<i4").tobytes() + arr.tobytes()


def norb_split(instances):
    """Classes of one split (all grid points with those instances), shuffled as the real files."""
    grid = np.stack(np.unravel_index(np.arange(int(np.prod(NORB_SIZES))), NORB_SIZES), 1)
    mine = grid[np.isin(grid[:, 1], instances)]
    return mine[np.random.default_rng(len(instances)).permutation(len(mine))]


def left_image(classes) -> np.ndarray:
    """A flat 96×96 image whose grey level encodes the grid index of the classes."""
    index = int(np.ravel_multi_index(tuple(classes), NORB_SIZES))
    return np.full((96, 96), 5 * index, np.uint8)


def write_norb(folder, gz=False, edit=None):
    folder.mkdir(exist_ok=True)
    for (split, stem), instances in zip(SPLITS.items(), ([1], [0]), strict=True):
        classes = norb_split(instances)
        dat = np.stack([np.stack([left_image(c), np.zeros((96, 96), np.uint8)]) for c in classes])
        info = np.column_stack([classes[:, 1], classes[:, 2], 2 * classes[:, 3], classes[:, 4]]).astype("<i4")
        files = {"dat": norb_matrix(dat, 0x1E3D4C55), "cat": norb_matrix(classes[:, 0].astype("<i4"), 0x1E3D4C54),
                 "info": norb_matrix(info, 0x1E3D4C54)}
        if edit:
            edit(split, files)
        for part, raw in files.items():
            name = folder / f"{stem}-{part}.mat"
            if gz:
                (name.parent / (name.name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                name.write_bytes(raw)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_smallnorb_grid_round_trip(tmp_path, gz):
    data = load_smallnorb_grid(write_norb(tmp_path / "norb", gz=gz), factor_sizes=NORB_SIZES, progress=False)
    assert len(data) == 48 and data.observation_shape == (1, 64, 64)
    # the grey level of image i is 5·i: every image landed at its grid row
    np.testing.assert_array_equal(data.images(np.arange(48))[:, 0, 0, 0], 5 * np.arange(48))
    factors = np.array([[1, 0, 1, 2, 1]])  # index 24 + 0 + 6 + 4 + 1
    assert data.index(factors)[0] == 35 and data.observations(factors)[0, 0, 10, 10] == 175


def test_smallnorb_nuisance_instance(tmp_path):
    folder = write_norb(tmp_path / "norb")
    full = load_smallnorb_grid(folder, factor_sizes=NORB_SIZES, progress=False)
    data = NuisanceInstance(full)
    assert data.factor_names == ("category", "elevation", "azimuth", "lighting")
    factors = np.tile([[1, 1, 2, 0]], (40, 1))
    obs = data.observations(factors)
    np.testing.assert_array_equal(obs, data.observations(factors))  # a pure function of the request
    levels = set(obs[:, 0, 0, 0].tolist())  # index 24·1 + 12·instance + 6·1 + 2·2 + 0
    assert levels == {5 * 34, 5 * 46}
    built = SmallNORBConfig(path=folder, instance="factor")
    with pytest.raises(BetavaeError, match="the two splits hold 48 images together, expected 48600"):
        built.build(progress=False)


@pytest.mark.parametrize("case, message", [
    ("missing", r"missing smallnorb-5x01235x9x18x6x2x96x96-testing-cat.mat \(or .mat.gz\)"),
    ("magic", "has magic number 0x1234, expected a NORB byte or int matrix"),
    ("truncated", r"testing-dat.mat: is truncated \(image"),
    ("cat_range", r"category of row 0 is out of range \(class 7, expected 0..1\)"),
    ("odd_azimuth", "azimuth 1 is odd"),
    ("duplicate", r"grid point \d+ \(classes .*\) appears 2 times in the two splits, expected once"),
])
def test_smallnorb_errors(tmp_path, case, message):
    def edit(split, files):
        if split != "testing":
            return
        if case == "magic":
            files["info"] = np.array([0x1234], "<i4").tobytes() + files["info"][4:]
        elif case == "truncated":
            files["dat"] = files["dat"][:-5000]
        elif case == "cat_range":
            files["cat"] = files["cat"][:20] + np.array([7], "<i4").tobytes() + files["cat"][24:]
        elif case == "odd_azimuth":
            info = np.frombuffer(files["info"][20:], "<i4").reshape(-1, 4).copy()
            info[3, 2] = 1
            files["info"] = files["info"][:20] + info.tobytes()
        elif case == "duplicate":
            info = np.frombuffer(files["info"][20:], "<i4").reshape(-1, 4).copy()
            info[:, 0] = 1  # the testing split claims the training split's instance
            files["info"] = files["info"][:20] + info.tobytes()

    folder = write_norb(tmp_path / "norb", edit=edit)
    if case == "missing":
        (folder / f"{SPLITS['testing']}-cat.mat").unlink()
    with pytest.raises(BetavaeError, match=f"SmallNORB {folder}.*{message}"):
        load_smallnorb_grid(folder, factor_sizes=NORB_SIZES, progress=False)


def car_views(obj: int) -> np.ndarray:
    """``im`` (128, 128, 3, azimuth, elevation) with colour (obj, azimuth, elevation)·40."""
    n_el, n_az, _ = CARS_SIZES
    im = np.zeros((128, 128, 3, n_az, n_el), np.uint8)
    for a in range(n_az):
        for e in range(n_el):
            im[:, :, :, a, e] = np.array([obj, a, e], np.uint8) * 40
    im[:64, :, 0, 0, 0] = 255  # one view has a bright top half, to check the image is not flipped
    return im


@pytest.fixture
def cars(tmp_path):
    folder = tmp_path / "cars"
    folder.mkdir()
    for k in range(CARS_SIZES[2]):
        savemat(folder / f"car_{k:03d}_mesh.mat", {"im": car_views(k), "mask": np.zeros((128, 128, 3, 2))})
    (folder / "list.txt").write_text("car_001_mesh\ncar_000_mesh\n")  # list order, not name order
    return folder


def test_cars3d_round_trip(cars):
    data = load_cars3d(cars, factor_sizes=CARS_SIZES, progress=False)
    assert len(data) == 12 and data.factor_names == ("elevation", "azimuth", "object")
    for e in range(2):
        for a in range(3):
            for k, obj in enumerate((1, 0)):  # object k is the k-th file of list.txt
                img = data.observations(np.array([[e, a, k]]))[0]
                assert data.index(np.array([[e, a, k]]))[0] == 6 * e + 2 * a + k
                if (e, a, obj) != (0, 0, 0):
                    np.testing.assert_array_equal(img[:, 40, 40], np.array([obj, a, e]) * 40)
    top = data.observations(np.array([[0, 0, 1]]))[0]
    expected = fit_array(car_views(0)[..., 0, 0][None], 64, 3, "centre")[0]
    np.testing.assert_array_equal(top, expected)
    assert top[0, 10, 10] == 255 and top[0, 54, 10] == 0


def test_cars3d_errors(cars, tmp_path):
    with pytest.raises(BetavaeError, match="found 2 .mat files, expected 183"):
        Cars3DConfig(path=cars).build(progress=False)
    with pytest.raises(BetavaeError, match="no such folder"):
        load_cars3d(tmp_path / "nope", factor_sizes=CARS_SIZES)
    savemat(cars / "car_000_mesh.mat", {"im": car_views(0)[..., :1]})
    with pytest.raises(BetavaeError, match=r"car_000_mesh.mat: 'im' has shape \(128, 128, 3, 3, 1\)"):
        load_cars3d(cars, factor_sizes=CARS_SIZES, progress=False)
    (cars / "car_000_mesh.mat").write_bytes(b"MATLAB 5.0 but not really" * 10)
    with pytest.raises(BetavaeError, match="car_000_mesh.mat: cannot be read as a MATLAB file"):
        load_cars3d(cars, factor_sizes=CARS_SIZES, progress=False)
    (cars / "list.txt").write_text("car_001_mesh\ncar_009_mesh\n")
    with pytest.raises(BetavaeError, match="list.txt names 1 missing file"):
        load_cars3d(cars, factor_sizes=CARS_SIZES, progress=False)
