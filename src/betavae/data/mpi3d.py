"""MPI3D (Gondal et al. 2019, "On the Transfer of Inductive Bias from Simulation to the Real
World", github.com/rr-learning/disentanglement_dataset).

The user supplies one of the public archives by path (never downloaded): ``mpi3d_toy.npz``,
``mpi3d_realistic.npz`` or ``mpi3d_real.npz``, each holding one array ``images``
(1036800, 64, 64, 3) uint8 and no labels: the images are in grid order, last factor fastest,
over object_color 6, object_shape 6, object_size 2, camera_height 3, background_color 3,
horizontal_axis 40, vertical_axis 40 (disentanglement_lib's ``mpi3d`` uses the same layout).

Validation: the archive opens without pickle and ``images`` has exactly that shape and dtype
(read from the ``.npy`` header before anything is decoded); decoding then checks the length
and CRC-32. The images are cached once as (N, 3, 64, 64), keyed by the file's size and
modification time (12.7 GB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.data.filecache import existing, file_stamp, write_nchw_blocks
from betavae.data.grid import GridImages, cached_grid
from betavae.data.npystream import array_names, open_array
from betavae.errors import BetavaeError

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                "horizontal_axis", "vertical_axis")
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
_HINT = ("download mpi3d_toy.npz, mpi3d_realistic.npz or mpi3d_real.npz from "
         "https://github.com/rr-learning/disentanglement_dataset (CC BY 4.0) and pass its path")
_CHUNK = 4096


def _fail(path: Path, what: str) -> BetavaeError:
    return BetavaeError(f"MPI3D file {path}: {what}; {_HINT}")


def load_mpi3d(
    path: str | Path, *, progress: bool | None = None, factor_sizes: tuple[int, ...] = FACTOR_SIZES
) -> GridImages:
    """Validate an MPI3D archive and open its cached images as a :class:`GridImages`.

    ``factor_sizes``: TEST ONLY, the grid a small file written by a test holds (the real files
    must match the default). Raises :class:`BetavaeError` naming the file and what differs.
    """
    path = existing(path, _fail)
    if path.suffix.lower() != ".npz":
        raise _fail(path, "expected an .npz archive")
    n = int(np.prod(factor_sizes))
    expected = (n, 64, 64, 3)

    def build(fh: BinaryIO) -> tuple[int, dict[str, Any]]:
        names = array_names(path)
        if "images" not in names:
            raise _fail(path, f"no array 'images' (found: {', '.join(names) or 'none'})")
        with open_array(path, "images") as arr:
            if arr.shape != expected or arr.dtype != np.uint8:
                raise _fail(path, f"array 'images' has shape {arr.shape} and dtype {arr.dtype}, "
                            f"expected {expected} uint8")
            write_nchw_blocks(fh, (block for _, block in arr.chunks(_CHUNK)), n, "caching MPI3D", progress)
        return n, {}

    return cached_grid("mpi3d", "MPI3D", path, file_stamp(path), FACTOR_NAMES, factor_sizes, (3, 64, 64), build)


@DATA.register("mpi3d")
class MPI3DConfig(DataConfig):
    """MPI3D from the user's ``mpi3d_{toy,realistic,real}.npz`` (``path``): 7 factors, RGB 64×64."""

    kind: Literal["mpi3d"] = "mpi3d"
    path: Path

    def build(self, progress: bool | None = None) -> GridImages:
        return load_mpi3d(self.path, progress=progress)
