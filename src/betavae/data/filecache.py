"""Memory-mapped image caches under the cache directory, keyed by their source, written atomically.

An entry is two files in ``<cache_dir>/<kind>/``: ``<name>.u8`` (rows of uint8 in C order, no
header) and ``<name>.json`` (the manifest: row shape, row count, the source's stamp and whatever
the builder adds, e.g. skipped files). ``name = <source id>-<stamp hash>``: the source id hashes
the source's resolved path, the stamp describes its content (size and modification time of a
file, a listing of a folder) plus every setting that changes the cached pixels. A changed
source gets a new name, is rebuilt, and the stale entries of the same source are removed.

Atomicity: the data file is written under a temporary name, fsynced and renamed when complete
(:func:`betavae.io.atomic_write`); the manifest is written, atomically too, only after it. The
manifest is the commit marker: a data file without one, or one whose size disagrees with it, is
never loaded, so a build killed at any point is rebuilt on the next use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from betavae.cache import cache_dir
from betavae.io import atomic_write, atomic_write_json

logger = logging.getLogger(__name__)

#: Bump when the layout of every entry changes, so old entries are not reused.
CACHE_VERSION = 1

#: ``build(fh) -> (rows written, extra manifest entries)``; writes rows to ``fh`` in order.
Builder = Callable[[BinaryIO], tuple[int, dict[str, Any]]]


def existing(path: str | os.PathLike, fail: Callable[[Path, str], Exception], folder: bool = False) -> Path:
    """``path`` (user ``~`` expanded) if it is an existing file (or ``folder``), else raise
    ``fail(path, "no such file" | "is not a file" | "no such folder" | "is not a folder")``."""
    path = Path(path).expanduser()
    what = "folder" if folder else "file"
    if not (path.is_dir() if folder else path.is_file()):
        raise fail(path, f"no such {what}" if not path.exists() else f"is not a {what}")
    return path


def file_stamp(path: Path) -> dict[str, int]:
    """What identifies a file's content cheaply: its size and modification time (ns)."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _digest(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


def entry_paths(kind: str, source: Path, stamp: dict[str, Any]) -> tuple[Path, Path]:
    """(data file, manifest) of the entry for ``source`` with ``stamp`` under the cache dir."""
    ident = _digest(str(source.resolve()), 12)
    name = f"{ident}-{_digest({'version': CACHE_VERSION, **stamp})}"
    folder = cache_dir() / kind
    return folder / f"{name}.u8", folder / f"{name}.json"


def _open(data: Path, manifest: Path, stamp: dict[str, Any]) -> tuple[np.ndarray, dict] | None:
    """The committed entry as a read-only memory map (n, *row_shape), or None if invalid."""
    try:
        meta = json.loads(manifest.read_text())
        shape = (int(meta["rows"]), *map(int, meta["row_shape"]))
        if meta.get("stamp") != json.loads(json.dumps(stamp)) or shape[0] < 1:
            return None
        if data.stat().st_size != int(np.prod(shape)):
            logger.warning("cache file %s has the wrong size; rebuilding it", data)
            return None
        return np.memmap(data, dtype=np.uint8, mode="r", shape=shape), meta
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_stale(data: Path) -> None:
    """Delete the other entries of the same source (their stamps no longer match it)."""
    ident = data.name.split("-")[0]
    for old in data.parent.glob(f"{ident}-*"):
        if old.stem != data.stem and old.suffix in (".u8", ".json"):
            try:
                old.unlink()
            except OSError:
                pass


#: A temporary file not written to for this long belongs to a killed build (a live build writes
#: every few seconds) and is deleted before the entry is rebuilt.
ABANDONED_SECONDS = 3600


def _remove_abandoned(data: Path) -> None:
    now = time.time()
    for tmp in data.parent.glob(f".{data.name}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime > ABANDONED_SECONDS:
                tmp.unlink()
        except OSError:
            pass


def open_cache(
    kind: str, source: Path, stamp: dict[str, Any], row_shape: tuple[int, ...], build: Builder
) -> tuple[np.ndarray, dict[str, Any]]:
    """The cached rows of ``source``: ((n, *row_shape) uint8 read-only memmap, manifest).

    Reuses a committed entry whose stamp matches; otherwise calls ``build`` to write the rows
    (the builder raises :class:`~betavae.errors.BetavaeError` on bad input and must write at
    least one row), commits the entry and removes the source's stale entries.
    """
    data, manifest = entry_paths(kind, source, stamp)
    found = _open(data, manifest, stamp)
    if found is not None:
        return found
    result: dict[str, Any] = {}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            rows, extra = build(fh)
            fh.flush()
            if fh.tell() != rows * int(np.prod(row_shape)):
                raise RuntimeError(f"cache builder wrote {fh.tell()} bytes for {rows} rows of {row_shape}")
        result.update(rows=rows, extra=extra)

    logger.info("caching %s to %s", source, data)
    _remove_abandoned(data)
    if manifest.exists():
        os.unlink(manifest)  # uncommit first: the data file is about to be replaced
    atomic_write(data, write)
    meta = {"rows": result["rows"], "row_shape": list(row_shape), "stamp": stamp,
            "source": str(source.resolve()), "version": CACHE_VERSION, **result["extra"]}
    atomic_write_json(manifest, meta)
    _remove_stale(data)
    opened = _open(data, manifest, stamp)
    if opened is None:  # pragma: no cover - only if the disk changes under us
        raise OSError(f"cache entry {data} could not be read back after writing it")
    return opened


def progress_bar(total: int, desc: str, show: bool | None) -> Any:
    """A tqdm bar of ``total`` images: shown if ``show``, hidden if False, on a terminal only if None."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable={True: False, False: True, None: None}[show])


def write_nchw_blocks(fh: BinaryIO, blocks: Any, total: int, desc: str, show: bool | None) -> None:
    """Write (m, H, W, C) uint8 image blocks to ``fh`` as contiguous (m, C, H, W), with a bar."""
    bar = progress_bar(total, desc, show)
    for block in blocks:
        fh.write(np.ascontiguousarray(np.asarray(block).transpose(0, 3, 1, 2)).tobytes())
        bar.update(len(block))
    bar.close()
