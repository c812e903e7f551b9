"""SmallNORB (LeCun, Huang & Bottou 2004, cs.nyu.edu/~ylclab/data/norb-v1.0-small/).

The user supplies the folder holding the six public files (optionally gzipped, ``.mat.gz``):
``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat`` and
``smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat``. Despite the suffix these are
the NORB binary matrix format: int32 little-endian magic (0x1E3D4C55 bytes, 0x1E3D4C54 int32),
int32 ndim, max(3, ndim) int32 dimensions, then the data. ``dat`` (24300, 2, 96, 96) uint8 is
a stereo pair per row, ``cat`` (24300,) int32 the category 0..4, ``info`` (24300, 4) int32 the
instance 0..9, elevation 0..8, azimuth 0, 2, ..., 34 and lighting 0..5.

As disentanglement_lib does, both splits together make the complete grid category 5 × instance
10 × elevation 9 × azimuth 18 (azimuth / 2) × lighting 6 = 48,600 images, of which the first
camera is used, resized to 64×64 grey and cached once in grid order. Validation: the header,
value ranges, and that the two splits cover every grid point exactly once.

``instance="nuisance"`` (default, as disentanglement_lib's ``smallnorb``): four factors; each
observation shows a pseudo-random instance, drawn from a hash of the requested factors so a
batch stays a pure function of the training step. ``instance="factor"``: five factors.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import numpy as np

from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.data.dsprites import grid_bases
from betavae.data.filecache import existing, file_stamp, progress_bar
from betavae.data.grid import GridImages, cached_grid
from betavae.data.imagefiles import fit_array
from betavae.errors import BetavaeError

FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 10, 9, 18, 6)
SPLITS = {"training": "smallnorb-5x46789x9x18x6x2x96x96-training",
          "testing": "smallnorb-5x01235x9x18x6x2x96x96-testing"}
MAGIC = {0x1E3D4C55: np.dtype("u1"), 0x1E3D4C54: np.dtype("<i4")}
_HINT = "download the six small NORB files from https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ and pass their folder"


def _fail(path: Path, what: str) -> BetavaeError:
    return BetavaeError(f"SmallNORB {path}: {what}; {_HINT}")


def find_file(folder: Path, stem: str) -> Path:
    """``<stem>.mat`` or ``<stem>.mat.gz`` in ``folder``."""
    for name in (f"{stem}.mat", f"{stem}.mat.gz"):
        if (folder / name).is_file():
            return folder / name
    raise _fail(folder, f"missing {stem}.mat (or .mat.gz)")


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(fh: IO[bytes], path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """Element dtype and dimensions of a NORB binary matrix; ``fh`` is left at the data."""
    head = fh.read(8)
    if len(head) != 8:
        raise _fail(path, "is truncated (no header)")
    magic, ndim = np.frombuffer(head, "<i4")
    if int(magic) not in MAGIC:
        raise _fail(path, f"has magic number {int(magic):#x}, expected a NORB byte or int matrix "
                    f"({', '.join(f'{m:#x}' for m in MAGIC)})")
    if not 1 <= ndim <= 8:
        raise _fail(path, f"has {ndim} dimensions")
    raw = fh.read(4 * max(3, int(ndim)))
    if len(raw) != 4 * max(3, int(ndim)):
        raise _fail(path, "is truncated (in the header)")
    return MAGIC[int(magic)], tuple(int(d) for d in np.frombuffer(raw, "<i4")[: int(ndim)])


def read_matrix(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A whole small matrix (``cat``, ``info``), checked against ``dtype`` and ``shape``."""
    with _open(path) as fh:
        found_dtype, found = _checked_header(fh, path, dtype, shape)
        count = int(np.prod(shape))
        buf = fh.read(count * found_dtype.itemsize)
        if len(buf) != count * found_dtype.itemsize:
            raise _fail(path, f"is truncated ({len(buf)} of {count * found_dtype.itemsize} data bytes)")
        return np.frombuffer(buf, found_dtype).reshape(shape).astype(np.int64)


def _checked_header(fh: IO[bytes], path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> tuple[np.dtype, tuple]:
    try:
        found_dtype, found = read_header(fh, path)
    except (OSError, EOFError) as exc:  # gzip errors are OSError / EOFError
        raise _fail(path, f"cannot be read ({type(exc).__name__}: {exc})") from None
    if found_dtype != dtype or found != shape:
        raise _fail(path, f"holds a {found_dtype} matrix of shape {found}, expected {np.dtype(dtype)} {shape}")
    return found_dtype, found


def split_rows(folder: Path, stem: str, sizes: tuple[int, ...]) -> tuple[Path, np.ndarray]:
    """The ``dat`` file of one split and the grid row of each of its images: (n,) int64."""
    cat_path, info_path = find_file(folder, f"{stem}-cat"), find_file(folder, f"{stem}-info")
    with _open(cat_path) as fh:
        try:
            n = read_header(fh, cat_path)[1][0]
        except (OSError, EOFError) as exc:
            raise _fail(cat_path, f"cannot be read ({type(exc).__name__}: {exc})") from None
    cat = read_matrix(cat_path, np.dtype("<i4"), (n,))
    info = read_matrix(info_path, np.dtype("<i4"), (n, 4))
    classes = np.column_stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]])
    if (info[:, 2] % 2).any():
        raise _fail(info_path, f"azimuth {int(info[np.argmax(info[:, 2] % 2), 2])} is odd, expected 0, 2, ..., 34")
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, sizes, strict=True)):
        bad = (classes[:, k] < 0) | (classes[:, k] >= size)
        if bad.any():
            row = int(np.argmax(bad))
            raise _fail(cat_path if k == 0 else info_path, f"{name} of row {row} is out of range "
                        f"(class {int(classes[row, k])}, expected 0..{size - 1})")
    return find_file(folder, f"{stem}-dat"), classes @ grid_bases(sizes)


def _copy_first_camera(path: Path, rows: np.ndarray, out: np.ndarray, bar: Any, chunk: int = 1024) -> None:
    with _open(path) as fh:
        _checked_header(fh, path, np.dtype("u1"), (len(rows), 2, 96, 96))
        for start in range(0, len(rows), chunk):
            count = min(chunk, len(rows) - start)
            try:
                buf = fh.read(count * 2 * 96 * 96)
            except (OSError, EOFError) as exc:
                raise _fail(path, f"cannot be read ({type(exc).__name__}: {exc})") from None
            if len(buf) != count * 2 * 96 * 96:
                raise _fail(path, f"is truncated (image {start + len(buf) // (2 * 96 * 96)} of {len(rows)})")
            left = np.frombuffer(buf, np.uint8).reshape(count, 2, 96, 96)[:, 0]
            out[rows[start : start + count]] = fit_array(left, 64, 1, "centre")
            bar.update(count)


def load_smallnorb_grid(
    folder: str | Path, *, progress: bool | None = None, factor_sizes: tuple[int, ...] = FACTOR_SIZES
) -> GridImages:
    """All five factors as a :class:`GridImages` (N, 1, 64, 64). ``factor_sizes``: TEST ONLY."""
    folder = existing(folder, _fail, folder=True)
    n = int(np.prod(factor_sizes))
    files = sorted(find_file(folder, f"{stem}-{part}") for stem in SPLITS.values() for part in ("dat", "cat", "info"))

    def build(fh: BinaryIO) -> tuple[int, dict[str, Any]]:
        splits = [split_rows(folder, stem, factor_sizes) for stem in SPLITS.values()]
        rows = np.concatenate([rows for _, rows in splits])
        if len(rows) != n:
            raise _fail(folder, f"the two splits hold {len(rows)} images together, expected {n}")
        counts = np.bincount(rows, minlength=n)
        if (counts != 1).any():  # report a duplicate first: it explains the missing point
            k = int(np.argmax(counts > 1)) if (counts > 1).any() else int(np.argmax(counts == 0))
            classes = [int(c) for c in np.unravel_index(k, factor_sizes)]
            raise _fail(folder, f"grid point {k} (classes {classes}) appears {int(counts[k])} times in the "
                        "two splits, expected once")
        out = np.empty((n, 1, 64, 64), np.uint8)
        bar = progress_bar(n, "caching SmallNORB", progress)
        for dat, rows in splits:
            _copy_first_camera(dat, rows, out, bar)
        bar.close()
        fh.write(out.tobytes())
        return n, {}

    stamp = {"files": [[f.name, *file_stamp(f).values()] for f in files]}
    return cached_grid("smallnorb", "SmallNORB", folder, stamp, FACTOR_NAMES, factor_sizes, (1, 64, 64), build)


class NuisanceInstance:
    """SmallNORB with the instance hidden (disentanglement_lib's 4 factors).

    Factors are (n, 4) int64 classes of (category, elevation, azimuth, lighting); each
    observation shows an instance drawn from a generator seeded by a hash of ``factors``, so
    equal requests give equal images. Other attributes as :class:`GridImages`.
    """

    pixel_max = 255
    ground_truth = True

    def __init__(self, grid: GridImages) -> None:
        self.grid = grid
        self.factor_names = grid.factor_names[:1] + grid.factor_names[2:]
        self.factor_sizes = grid.factor_sizes[:1] + grid.factor_sizes[2:]
        self.observation_shape = grid.observation_shape

    def __len__(self) -> int:
        return len(self.grid)

    def sample_factors_uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """i.i.d. uniform factor classes: (n, 4) int64."""
        return rng.integers(0, np.asarray(self.factor_sizes), size=(n, 4), dtype=np.int64)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.sample_factors_uniform(n, rng)

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """Images of (n, 4) factor classes, random instances: (n, 1, 64, 64) uint8."""
        factors = np.asarray(factors, dtype=np.int64)
        if factors.ndim != 2 or factors.shape[1] != 4:
            raise BetavaeError(f"SmallNORB: expected factor classes of shape (n, 4), got {factors.shape}")
        seed = int.from_bytes(hashlib.blake2b(np.ascontiguousarray(factors).tobytes(), digest_size=8).digest(), "little")
        instance = np.random.default_rng(seed).integers(0, self.grid.factor_sizes[1], len(factors))
        return self.grid.observations(np.insert(factors, 1, instance, axis=1))


@DATA.register("smallnorb")
class SmallNORBConfig(DataConfig):
    """SmallNORB from the folder of the six public files (``path``): grey 64×64, with the
    instance a nuisance (4 factors, default) or a factor (5)."""

    kind: Literal["smallnorb"] = "smallnorb"
    path: Path
    instance: Literal["nuisance", "factor"] = "nuisance"

    def build(self, progress: bool | None = None) -> GridImages | NuisanceInstance:
        grid = load_smallnorb_grid(self.path, progress=progress)
        return grid if self.instance == "factor" else NuisanceInstance(grid)
