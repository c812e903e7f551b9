"""A user's own image collection (``data.kind: images``): a folder of PNG/JPEG files, searched
recursively, or an image array in an ``.npy``/``.npz`` file; e.g. CelebA or 3D Chairs.

The images are centre-cropped and resized to ``size``×``size`` grey or RGB once and cached as a
memory-mapped (N, C, size, size) uint8 array under the cache directory (see
:mod:`betavae.data.filecache`), so training never decodes a JPEG twice. The cache is keyed by
the folder's listing (every image's relative path, size and modification time) or the array
file's size and modification time, plus the settings: change any and it is rebuilt.

Files that cannot be decoded are skipped and counted (``ImageCollection.skipped``, the cache
manifest and a log warning); files without a PNG/JPEG suffix are ignored and counted. An empty
folder, or one where nothing decodes, is an error.

There are no ground-truth factors: the source exposes one factor, ``image`` (the row), so
training, traversals and reports work as on dSprites, while disentanglement metrics refuse it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from pydantic import Field, PositiveInt

from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.data.filecache import file_stamp, open_cache, progress_bar
from betavae.data.grid import GridImages
from betavae.data.imagefiles import Crop, fit_array, list_images, load_image, to_uint8
from betavae.data.npystream import array_names, open_array
from betavae.errors import BetavaeError

logger = logging.getLogger(__name__)
_BLOCK = 1024  # images decoded per block (bounds memory, paces the progress bar)


class ImageCollection(GridImages):
    """Images without ground truth: one factor ``image`` of size N (the row of the cache).

    ``skipped`` counts files that could not be decoded, ``ignored`` files without an image
    suffix; ``manifest`` is the cache entry's manifest (``skipped_files`` lists the first 20).
    """

    ground_truth = False

    def __init__(self, pixels: np.ndarray, manifest: dict[str, Any]) -> None:
        super().__init__("images", ("image",), (len(pixels),), pixels)
        self.manifest = manifest
        self.skipped = int(manifest.get("skipped", 0))
        self.ignored = int(manifest.get("ignored", 0))


def _folder_builder(root: Path, files: list[Path], other: int, cfg: ImagesConfig, progress: bool | None) -> Any:
    def build(fh: BinaryIO) -> tuple[int, dict[str, Any]]:
        rows, skipped = 0, []
        bar = progress_bar(len(files), f"caching {root.name}", progress)
        workers = cfg.workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(files), _BLOCK):
                part = files[start : start + _BLOCK]
                for path, out in zip(part, pool.map(lambda p: load_image(p, cfg.size, cfg.channels, cfg.crop), part),
                                     strict=True):
                    if isinstance(out, str):
                        skipped.append(f"{path.relative_to(root)} ({out})")
                    else:
                        fh.write(out.tobytes())
                        rows += 1
                bar.update(len(part))
        bar.close()
        if rows == 0:
            raise BetavaeError(f"image folder {root}: none of the {len(files)} PNG/JPEG files could be "
                               f"decoded (first: {skipped[0]}); check the files")
        if skipped:
            logger.warning("image folder %s: skipped %d unreadable file(s), e.g. %s", root, len(skipped), skipped[0])
        return rows, {"skipped": len(skipped), "skipped_files": skipped[:20], "ignored": other}

    return build


def _array_name(path: Path) -> str:
    names = array_names(path)
    if len(names) == 1:
        return names[0]
    if "images" in names:
        return "images"
    raise BetavaeError(f"image array file {path}: holds arrays {names or 'none'}; expected one array or one "
                       "named 'images' of shape (N, H, W) or (N, H, W, C)")


def _array_builder(path: Path, cfg: ImagesConfig, progress: bool | None) -> Any:
    def build(fh: BinaryIO) -> tuple[int, dict[str, Any]]:
        with open_array(path, _array_name(path)) as arr:
            ok = len(arr.shape) == 3 or (len(arr.shape) == 4 and arr.shape[-1] in (1, 3, 4))
            if not ok or arr.shape[0] == 0:
                raise BetavaeError(f"image array {path} ('{arr.name}'): shape {arr.shape}, expected (N, H, W) or "
                                   "(N, H, W, C) with N ≥ 1 and C in 1, 3, 4 (channels last)")
            bar = progress_bar(arr.shape[0], f"caching {path.name}", progress)
            for start, block in arr.chunks(_BLOCK):
                try:
                    pixels = to_uint8(block)
                except ValueError as exc:
                    raise BetavaeError(f"image array {path} ('{arr.name}') near row {start}: {exc}") from None
                fh.write(fit_array(pixels, cfg.size, cfg.channels, cfg.crop).tobytes())
                bar.update(len(block))
            bar.close()
            return arr.shape[0], {"skipped": 0, "ignored": 0}

    return build


def _folder_stamp(root: Path, files: list[Path], other: int) -> str:
    digest = hashlib.sha256()
    for path in files:
        st = path.stat()
        digest.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    digest.update(f"other={other}".encode())
    return digest.hexdigest()


def load_images(cfg: ImagesConfig, progress: bool | None = None) -> ImageCollection:
    """Build or reuse the cache of ``cfg.path`` and open it (see the module docstring)."""
    path = Path(cfg.path).expanduser()
    settings = {"size": cfg.size, "channels": cfg.channels, "crop": cfg.crop}
    if path.is_dir():
        files, other = list_images(path)
        if not files:
            raise BetavaeError(f"image folder {path}: no PNG/JPEG files found (searched recursively; "
                               f"{other} other file(s) ignored); point data.path at a folder of images")
        stamp = {"listing": _folder_stamp(path, files, other), **settings}
        build = _folder_builder(path, files, other, cfg, progress)
    elif path.is_file():
        if path.suffix.lower() not in (".npy", ".npz"):
            raise BetavaeError(f"image source {path}: expected a folder of images or an .npy/.npz array file")
        stamp = {**file_stamp(path), **settings}
        build = _array_builder(path, cfg, progress)
    else:
        raise BetavaeError(f"image source {path}: no such file or folder; set data.path to a folder of "
                           "PNG/JPEG images or an .npy/.npz array")
    pixels, manifest = open_cache("images", path, stamp, (cfg.channels, cfg.size, cfg.size), build)
    return ImageCollection(pixels, manifest)


@DATA.register("images")
class ImagesConfig(DataConfig):
    """A folder of PNG/JPEG images (recursively) or an ``.npy``/``.npz`` image array, cached
    once at ``size``×``size`` with ``channels`` 1 (grey) or 3 (RGB). ``crop``: ``centre`` keeps
    the centred square, ``none`` squashes. ``workers``: decoding threads (default: CPUs, ≤ 8)."""

    kind: Literal["images"] = "images"
    path: Path
    channels: Literal[1, 3] = 3
    size: PositiveInt = Field(64, le=1024)
    crop: Crop = "centre"
    workers: PositiveInt | None = None

    def build(self, progress: bool | None = None) -> ImageCollection:
        return load_images(self, progress=progress)
