"""dSprites image files: the official archive (Matthey et al. 2017; spec §4.3) and the cache of
the rendered grid.

The user supplies ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` by path; it is never
downloaded. Only ``imgs`` (737280, 64, 64) uint8, ``latents_classes`` (737280, 6) int64 and
``latents_values`` (737280, 6) float64 are read, with ``np.load(path, allow_pickle=False)``. The
pickled ``metadata`` is skipped unless ``trust_pickle``. ``imgs`` (≈ 3 GB decoded) is streamed
out of the archive in chunks and kept bit-packed (≈ 0.37 GB) or as uint8, optionally as a
memory-mapped copy under the cache directory keyed by the file's SHA-256.

:func:`open_grid_cache` renders the whole grid once into a bit-packed memory-mapped file keyed
by a hash of every renderer parameter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from betavae.cache import cache_dir
from betavae.data.dsprites_grid import (
    FULL_FACTOR_SIZES,
    IMAGE_SIZE,
    NUM_IMAGES,
    grid_bases,
    index_to_factors,
    value_tables,
)
from betavae.data.render import RendererConfig, make_renderer
from betavae.errors import BetavaeError
from betavae.io import atomic_write

logger = logging.getLogger(__name__)
OFFICIAL_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
_HINT = (
    f"download {OFFICIAL_NAME} from https://github.com/deepmind/dsprites-dataset and pass "
    "its path, or leave `path` unset to use the built-in renderer"
)
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


@dataclass(frozen=True)
class OfficialDSprites:
    """The validated contents of the official file.

    ``latents_classes`` (N, 6) int64 and ``latents_values`` (N, 6) float64 in grid order;
    ``pixels`` is (N, 512) bit-packed rows or (N, 64, 64) uint8, possibly memory-mapped.
    """

    path: Path
    latents_classes: np.ndarray
    latents_values: np.ndarray
    pixels: np.ndarray
    packed: bool
    metadata: Any = None

    def __len__(self) -> int:
        return len(self.latents_classes)

    def images(self, indices: np.ndarray) -> np.ndarray:
        """Images by grid index: (n,) int -> (n, 1, 64, 64) uint8 in {0, 1}."""
        rows = self.pixels[np.asarray(indices, dtype=np.int64).reshape(-1)]
        if self.packed:
            rows = np.unpackbits(rows, axis=1)
        return np.asarray(rows, dtype=np.uint8).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)


def _fail(path: Path, what: str, todo: str = _HINT) -> BetavaeError:
    return BetavaeError(f"dSprites file {path}: {what}; {todo}")


def _check_array(path: Path, name: str, arr: np.ndarray, shape: tuple, dtype: type) -> None:
    if arr.shape != shape or arr.dtype != np.dtype(dtype):
        raise _fail(
            path, f"array '{name}' has shape {arr.shape} and dtype {arr.dtype}, expected {shape} "
            f"{np.dtype(dtype)}", "the file is not the official dSprites archive; " + _HINT,
        )


def _check_latents(path: Path, classes: np.ndarray, values: np.ndarray, sizes: tuple[int, ...]) -> None:
    """Value sets of both latents arrays and the grid order ``classes @ bases == arange(N)``."""
    for k, (size, table) in enumerate(zip(sizes, value_tables(sizes), strict=True)):
        col = classes[:, k]
        if col.min() < 0 or col.max() >= size:
            raise _fail(path, f"latents_classes column {k} has classes outside 0..{size - 1}",
                        "the file is corrupt or not the official archive; " + _HINT)
        if not np.allclose(values[:, k], table[col], rtol=0, atol=1e-6):
            row = int(np.argmax(~np.isclose(values[:, k], table[col], rtol=0, atol=1e-6)))
            raise _fail(path, f"latents_values column {k} row {row} is {float(values[row, k])!r}, "
                        f"expected {float(table[col[row]])!r}", "the file is corrupt; " + _HINT)
    bad = np.flatnonzero(classes @ grid_bases(sizes) != np.arange(len(classes)))
    if bad.size:
        raise _fail(path, f"latents_classes are not in grid order (first mismatch at row {bad[0]}: "
                    f"{classes[bad[0]].tolist()})", "the file was reordered or corrupted; " + _HINT)


def _stream_imgs(
    path: Path, npz: Any, out: np.ndarray, packed: bool, progress: bool, chunk: int = 16384
) -> None:
    """Decode ``imgs.npy`` from the archive chunk by chunk into ``out`` (packed rows or uint8)."""
    with npz.zip.open("imgs.npy") as fh:
        version = np.lib.format.read_magic(fh)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise _fail(path, f"'imgs' uses .npy format {version}, expected 1.0 or 2.0", _HINT)
        shape, fortran, dtype = readers[version](fh)
        expected = (len(out), IMAGE_SIZE, IMAGE_SIZE)
        if tuple(shape) != expected or dtype != np.uint8 or fortran:
            raise _fail(path, f"array 'imgs' has shape {tuple(shape)} and dtype {dtype}"
                        f"{' (Fortran order)' * fortran}, expected {expected} uint8",
                        "the file is not the official dSprites archive; " + _HINT)
        per_image = IMAGE_SIZE * IMAGE_SIZE
        starts: Any = range(0, len(out), chunk)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="decoding dSprites imgs", unit="chunk")
        for start in starts:
            count = min(chunk, len(out) - start)
            buf = fh.read(count * per_image)
            if len(buf) != count * per_image:
                raise _fail(path, "array 'imgs' is truncated", "the file is corrupt; " + _HINT)
            block = np.frombuffer(buf, dtype=np.uint8).reshape(count, per_image)
            if block.max(initial=0) > 1:
                raise _fail(path, f"'imgs' has pixel values above 1 near image {start}",
                            "expected binary images; " + _HINT)
            out[start : start + count] = np.packbits(block, axis=1) if packed else block.reshape(
                count, IMAGE_SIZE, IMAGE_SIZE)
        if fh.read(1):  # reading to the end also makes zipfile check the member's CRC-32
            raise _fail(path, "array 'imgs' has trailing data", "the file is corrupt; " + _HINT)


def load_dsprites_file(
    path: str | Path,
    *,
    trust_pickle: bool = False,
    storage: Literal["packed", "uint8"] = "packed",
    cache: bool = False,
    progress: bool = False,
    factor_sizes: tuple[int, ...] = FULL_FACTOR_SIZES,
) -> OfficialDSprites:
    """Load and validate the official dSprites archive.

    Args:
        path: the user's ``.npz`` file.
        trust_pickle: also read the pickled ``metadata`` (runs pickle: only for trusted files).
        storage: ``"packed"`` keeps images as ``np.packbits`` rows (N, 512), ``"uint8"`` as
            (N, 64, 64).
        cache: keep the decoded images as a memory-mapped file under the cache dir (keyed by the
            archive's SHA-256 and ``storage``) and reuse it next time.
        progress: show a tqdm bar while decoding ``imgs`` (≈ 6 s packed, ≈ 14 s uint8 at full size).
        factor_sizes: TEST ONLY: the grid sizes the file must hold (a small synthetic file).

    Raises:
        BetavaeError: missing, unreadable or corrupt file, missing arrays, wrong shapes, dtypes,
            value sets or order.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise _fail(path, "no such file" if not path.exists() else "is not a file")
    n = int(np.prod(factor_sizes))
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _fail(path, f"cannot be read as an .npz archive ({type(exc).__name__}: {exc})",
                    "the file is corrupt or not the official archive; " + _HINT) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _fail(path, "is a single .npy array, not an .npz archive", _HINT)
    with npz:
        missing = [k for k in ("imgs", "latents_classes", "latents_values") if k not in npz.files]
        if missing:
            raise _fail(path, f"missing array(s) {', '.join(missing)} (found: {', '.join(npz.files)})",
                        "the file is not the official dSprites archive; " + _HINT)
        try:
            classes, values = npz["latents_classes"], npz["latents_values"]
        except _READ_ERRORS as exc:
            raise _fail(path, f"cannot read the latents ({type(exc).__name__}: {exc})",
                        "the file is corrupt; " + _HINT) from None
        _check_array(path, "latents_classes", classes, (n, 6), np.int64)
        _check_array(path, "latents_values", values, (n, 6), np.float64)
        _check_latents(path, classes, values, factor_sizes)
        pixels = _load_pixels(path, npz, n, storage == "packed", cache, progress)
    metadata = None
    if trust_pickle:
        try:
            with np.load(path, allow_pickle=True, encoding="latin1") as full:
                metadata = full["metadata"].item() if "metadata" in full.files else None
        except Exception as exc:  # unpickling can raise anything
            raise _fail(path, f"cannot unpickle 'metadata' ({type(exc).__name__}: {exc})",
                        "set trust_pickle to false to skip it") from None
    return OfficialDSprites(path, classes, values, pixels, storage == "packed", metadata)


def cached_array(
    path: Path, shape: tuple[int, ...], fill: Callable[[np.ndarray], None] | None
) -> np.ndarray | None:
    """A uint8 ``.npy`` file under the cache, memory-mapped read-only.

    A file with the right shape and dtype is returned as is: it was written to a temporary file
    and renamed once complete, so a partial file never carries the final name. Otherwise it is
    (re)built by ``fill(out)`` on a writable memory map, or None is returned if ``fill`` is None.
    """
    if path.exists():
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.shape == shape and arr.dtype == np.uint8:
                return arr
        except (OSError, ValueError):
            pass
        logger.warning("ignoring malformed cache file %s; rebuilding it", path)
    if fill is None:
        return None

    def write(tmp: str) -> None:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        fill(out)
        out.flush()
        del out

    logger.info("writing %s", path)
    atomic_write(path, write)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _load_pixels(
    path: Path, npz: Any, n: int, packed: bool, cache: bool, progress: bool
) -> np.ndarray:
    shape = (n, IMAGE_SIZE * IMAGE_SIZE // 8) if packed else (n, IMAGE_SIZE, IMAGE_SIZE)

    def decode(out: np.ndarray) -> None:
        try:
            _stream_imgs(path, npz, out, packed, progress)
        except _READ_ERRORS as exc:
            raise _fail(path, f"cannot decode 'imgs' ({type(exc).__name__}: {exc})",
                        "the file is corrupt; " + _HINT) from None

    if not cache:
        out = np.empty(shape, dtype=np.uint8)
        decode(out)
        return out
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    name = f"official-{digest.hexdigest()[:20]}-{'packed' if packed else 'uint8'}.npy"
    return cached_array(cache_dir() / "dsprites" / name, shape, decode)  # type: ignore[return-value]


# --- the rendered grid ------------------------------------------------------------------------

RENDER_VERSION = 1  # bump when the rasterisation changes, so old grid caches are not reused


def renderer_key(cfg: RendererConfig) -> str:
    """Hash of everything that determines the rendered images (all renderer fields + version)."""
    blob = json.dumps({"version": RENDER_VERSION, **cfg.model_dump()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def grid_cache_path(cfg: RendererConfig) -> Path:
    """Where the rendered grid of ``cfg`` lives: ``<cache_dir>/dsprites/grid-<key>.npy``."""
    return cache_dir() / "dsprites" / f"grid-{renderer_key(cfg)}.npy"


def open_grid_cache(
    cfg: RendererConfig, build: bool = True, progress: bool = False, batch: int = 4096
) -> np.ndarray | None:
    """The whole grid rendered once, bit-packed: (737280, 512) uint8 memory map, row = index.

    Row i is ``np.packbits`` of image i flattened (64·64 bits, 0.37 GB in all). A missing or
    malformed file is (re)built when ``build`` (≈ 15 s with the fast renderer, about an hour with
    ``method="exact"``), atomically (see :func:`cached_array`). None if absent and not ``build``.
    """
    total = NUM_IMAGES

    def fill(out: np.ndarray) -> None:
        render = make_renderer(cfg)
        starts: Any = range(0, total, batch)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="rendering dSprites grid", unit="batch")
        for start in starts:
            idx = np.arange(start, min(start + batch, total))
            imgs = render(index_to_factors(idx)[:, 1:])
            out[idx] = np.packbits(imgs.reshape(len(idx), -1), axis=1)

    shape = (total, IMAGE_SIZE * IMAGE_SIZE // 8)
    return cached_array(grid_cache_path(cfg), shape, fill if build else None)


def unpack_images(rows: np.ndarray) -> np.ndarray:
    """Bit-packed rows (n, 512) -> images (n, 1, 64, 64) uint8 in {0, 1}."""
    return np.unpackbits(np.asarray(rows), axis=1).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
