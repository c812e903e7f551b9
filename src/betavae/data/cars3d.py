"""Cars3D (Reed et al. 2015, "Deep Visual Analogy-Making"; Fidler et al. 2012 car models).

The user supplies the ``data/cars`` folder of ``nips2015-analogy-data.tar.gz`` (from
scottreed.info) by path, never downloaded: 183 MATLAB files ``car_***_mesh.mat``, each with an
array ``im`` (128, 128, 3, 24, 4) uint8 = (H, W, RGB, azimuth, elevation), and ``list.txt``
naming the files in order (sorted file names when it is absent).

Grid: elevation 4, azimuth 24, object 183 (17,568 images), object fastest, as
disentanglement_lib's factor sizes ``[4, 24, 183]``. Each image is resized to 64×64 (Pillow
bicubic, antialiased) and cached once as (N, 3, 64, 64), keyed by every file's size and
modification time. Labels follow the file's axes; disentanglement_lib flattens each object's
(24, 4) views azimuth-major but labels them elevation-major, which mixes the two factors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.data.filecache import existing, file_stamp, progress_bar
from betavae.data.grid import GridImages, cached_grid
from betavae.data.imagefiles import fit_array
from betavae.errors import BetavaeError

FACTOR_NAMES = ("elevation", "azimuth", "object")
FACTOR_SIZES = (4, 24, 183)
_HINT = ("download nips2015-analogy-data.tar.gz from http://www.scottreed.info (research use), unpack it "
         "and pass the data/cars folder")


def _fail(path: Path, what: str) -> BetavaeError:
    return BetavaeError(f"Cars3D {path}: {what}; {_HINT}")


def mesh_files(folder: Path, n_objects: int) -> list[Path]:
    """The object files in order: as listed in ``list.txt`` if present, else sorted names."""
    listing = folder / "list.txt"
    if listing.is_file():
        files = [folder / f"{line.strip()}.mat" for line in listing.read_text().splitlines() if line.strip()]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise _fail(folder, f"list.txt names {len(missing)} missing file(s), e.g. {missing[0]}")
    else:
        files = sorted(folder.glob("*.mat"))
    if len(files) != n_objects:
        raise _fail(folder, f"found {len(files)} .mat files, expected {n_objects} (one per car)")
    return files


def read_mesh(path: Path, sizes: tuple[int, ...]) -> np.ndarray:
    """``im`` of one file, checked: (128, 128, 3, azimuth, elevation) uint8."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path, variable_names=["im"])
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, NotImplementedError (v7.3), ...
        raise _fail(path, f"cannot be read as a MATLAB file ({type(exc).__name__}: {exc})") from None
    if "im" not in mat:
        raise _fail(path, "has no variable 'im'")
    im, expected = mat["im"], (128, 128, 3, sizes[1], sizes[0])
    if im.shape != expected or im.dtype != np.uint8:
        raise _fail(path, f"'im' has shape {im.shape} and dtype {im.dtype}, expected {expected} uint8")
    return im


def load_cars3d(
    folder: str | Path, *, progress: bool | None = None, factor_sizes: tuple[int, ...] = FACTOR_SIZES
) -> GridImages:
    """Validate the ``data/cars`` folder and open its cached images as a :class:`GridImages`.

    ``factor_sizes``: TEST ONLY, (elevations, azimuths, objects) of small files written by a
    test (the real files must match the default).
    """
    folder = existing(folder, _fail, folder=True)
    n_el, n_az, n_obj = factor_sizes
    files = mesh_files(folder, n_obj)

    def build(fh: BinaryIO) -> tuple[int, dict[str, Any]]:
        grid = np.empty((n_el, n_az, n_obj, 3, 64, 64), np.uint8)
        bar = progress_bar(n_obj * n_el * n_az, "caching Cars3D", progress)
        for k, path in enumerate(files):
            views = read_mesh(path, factor_sizes).transpose(4, 3, 0, 1, 2)  # (el, az, 128, 128, 3)
            grid[:, :, k] = fit_array(views.reshape(-1, 128, 128, 3), 64, 3, "centre").reshape(n_el, n_az, 3, 64, 64)
            bar.update(n_el * n_az)
        bar.close()
        fh.write(grid.tobytes())
        return n_el * n_az * n_obj, {"objects": [f.name for f in files]}

    stamp = {"files": [[f.name, *file_stamp(f).values()] for f in files]}
    return cached_grid("cars3d", "Cars3D", folder, stamp, FACTOR_NAMES, factor_sizes, (3, 64, 64), build)


@DATA.register("cars3d")
class Cars3DConfig(DataConfig):
    """Cars3D from the user's unpacked ``data/cars`` folder (``path``): 3 factors, RGB 64×64."""

    kind: Literal["cars3d"] = "cars3d"
    path: Path

    def build(self, progress: bool | None = None) -> GridImages:
        return load_cars3d(self.path, progress=progress)
