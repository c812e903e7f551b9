"""Read a large array out of a ``.npy`` file or an ``.npz`` archive in chunks, never pickling.

Public data sets ship tens of GB of images in one array (MPI3D: 1,036,800 × 64 × 64 × 3 uint8,
12.7 GB decoded). :func:`open_array` reads only the ``.npy`` header (shape, dtype, order) so a
loader can check it before reading anything else, and :meth:`ArrayStream.chunks` decodes rows a
block at a time (an ``.npz`` member is decompressed as it streams; reading to the end makes
``zipfile`` check its CRC-32).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from betavae.errors import BetavaeError

#: What reading a corrupt or truncated archive can raise.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


@dataclass
class ArrayStream:
    """An open array: ``shape``, ``dtype`` and ``chunks`` of rows along the first axis."""

    path: Path
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fh: IO[bytes]

    def chunks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, block)`` with block (≤ rows, *shape[1:]); raises on truncation or trailing data."""
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        for start in range(0, self.shape[0], rows):
            count = min(rows, self.shape[0] - start)
            buf = self.fh.read(count * row_bytes)
            if len(buf) != count * row_bytes:
                raise BetavaeError(f"{self.path}: array '{self.name}' is truncated (row {start + len(buf) // max(row_bytes, 1)} "
                                   f"of {self.shape[0]}); the file is incomplete, download it again")
            yield start, np.frombuffer(buf, dtype=self.dtype).reshape(count, *self.shape[1:])
        if self.fh.read(1):
            raise BetavaeError(f"{self.path}: array '{self.name}' has trailing data; the file is corrupt")


def _header(fh: IO[bytes], path: Path, name: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fh)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise BetavaeError(f"{path}: array '{name}' uses .npy format {version}, expected 1.0 or 2.0")
    shape, fortran, dtype = readers[version](fh)
    if dtype.hasobject:
        raise BetavaeError(f"{path}: array '{name}' holds Python objects (pickle), which are never loaded")
    if fortran and len(shape) > 1:
        raise BetavaeError(f"{path}: array '{name}' is stored in Fortran order; save it in C order")
    return tuple(int(s) for s in shape), dtype


def array_names(path: Path) -> list[str]:
    """Names of the arrays in an ``.npz`` archive (``[""]`` for a ``.npy`` file)."""
    if path.suffix.lower() == ".npy":
        return [""]
    try:
        with zipfile.ZipFile(path) as zf:
            return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    except READ_ERRORS as exc:
        raise BetavaeError(f"{path}: cannot be read as an .npz archive ({type(exc).__name__}: {exc}); "
                           "the file is corrupt or not a NumPy archive") from None


@contextmanager
def open_array(path: Path, name: str = "") -> Iterator[ArrayStream]:
    """Open array ``name`` of an ``.npz`` archive (or the array of a ``.npy`` file, name "")."""
    try:
        if path.suffix.lower() == ".npy":
            with open(path, "rb") as fh:
                shape, dtype = _header(fh, path, name or path.name)
                yield ArrayStream(path, name or path.name, shape, dtype, fh)
            return
        with zipfile.ZipFile(path) as zf, zf.open(f"{name}.npy") as fh:
            shape, dtype = _header(fh, path, name)
            yield ArrayStream(path, name, shape, dtype, fh)
    except BetavaeError:
        raise
    except READ_ERRORS as exc:
        raise BetavaeError(f"{path}: cannot read array '{name or path.name}' ({type(exc).__name__}: {exc}); "
                           "the file is corrupt or truncated, download or save it again") from None
