"""Shapes3D (Burgess & Kim 2018, "3D Shapes Dataset", github.com/deepmind/3d-shapes).

The user supplies ``3dshapes.h5`` by path (never downloaded): HDF5 datasets ``images``
(480000, 64, 64, 3) uint8 and ``labels`` (480000, 6) float64. Factors, in column order and with
orientation fastest: floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4, orientation 15.
Every combination appears exactly once, in grid order.

Validation: both datasets exist with those shapes and dtypes; each label column holds exactly
as many distinct values as its factor has classes; the classes (rank of each value in its
column) are in grid order, ``classes @ bases == arange(N)``. Values themselves are not
compared with a table, so rounding in the published file cannot reject it. The images are then
copied once, as (N, 3, 64, 64), into a memory-mapped cache keyed by the file's size and
modification time (≈ 5.9 GB; reading HDF5 chunks at random would be far slower than training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.data.filecache import existing, file_stamp, write_nchw_blocks
from betavae.data.grid import GridImages, cached_grid, grid_order_mismatch
from betavae.errors import BetavaeError

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
_HINT = "download 3dshapes.h5 from https://github.com/deepmind/3d-shapes (Apache 2.0) and pass its path"
_CHUNK = 4000


def _fail(path: Path, what: str) -> BetavaeError:
    return BetavaeError(f"Shapes3D file {path}: {what}; {_HINT}")


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise BetavaeError("reading Shapes3D needs h5py: pip install 'betavae[data]' (or pip install h5py)") from None
    return h5py


def check_labels(path: Path, labels: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """Classes (N, 6) int64 from ``labels`` (N, 6) after checking value counts and grid order."""
    classes = np.empty(labels.shape, np.int64)
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, sizes, strict=True)):
        values, classes[:, k] = np.unique(labels[:, k], return_inverse=True)
        if len(values) != size:
            raise _fail(path, f"labels column {k} ({name}) has {len(values)} distinct values, expected {size}")
    row = grid_order_mismatch(classes, sizes)
    if row is not None:
        raise _fail(path, f"labels are not in grid order (orientation fastest): first mismatch at row {row} "
                    f"{labels[row].tolist()}")
    return classes


def load_shapes3d(
    path: str | Path, *, progress: bool | None = None, factor_sizes: tuple[int, ...] = FACTOR_SIZES
) -> GridImages:
    """Validate ``3dshapes.h5`` and open its cached images as a :class:`GridImages`.

    ``factor_sizes``: TEST ONLY, the grid a small file written by a test holds (the real file
    must match the default). Raises :class:`BetavaeError` naming the file and what differs.
    """
    path = existing(path, _fail)
    h5py = _h5py()
    n = int(np.prod(factor_sizes))

    def build(fh: BinaryIO) -> tuple[int, dict[str, Any]]:
        try:
            with h5py.File(path, "r") as f:
                missing = [k for k in ("images", "labels") if k not in f]
                if missing:
                    raise _fail(path, f"missing dataset(s) {', '.join(missing)} (found: {', '.join(f.keys()) or 'none'})")
                images, labels = f["images"], f["labels"]
                for name, ds, shape, dtype in (("images", images, (n, 64, 64, 3), np.uint8),
                                               ("labels", labels, (n, 6), np.float64)):
                    if ds.shape != shape or ds.dtype != dtype:
                        raise _fail(path, f"dataset '{name}' has shape {ds.shape} and dtype {ds.dtype}, "
                                    f"expected {shape} {np.dtype(dtype)}")
                check_labels(path, labels[()], factor_sizes)
                blocks = (images[start : start + _CHUNK] for start in range(0, n, _CHUNK))
                write_nchw_blocks(fh, blocks, n, "caching Shapes3D", progress)
        except OSError as exc:
            raise _fail(path, f"cannot be read as HDF5 ({exc}); the file is corrupt or truncated") from None
        return n, {}

    return cached_grid("shapes3d", "Shapes3D", path, file_stamp(path), FACTOR_NAMES, factor_sizes, (3, 64, 64),
                       build)


@DATA.register("shapes3d")
class Shapes3DConfig(DataConfig):
    """Shapes3D from the user's ``3dshapes.h5`` (``path``): 6 factors, RGB 64×64."""

    kind: Literal["shapes3d"] = "shapes3d"
    path: Path

    def build(self, progress: bool | None = None) -> GridImages:
        return load_shapes3d(self.path, progress=progress)
