"""Decode, centre-crop and resize a user's images (Pillow), one at a time or from an array.

Every image becomes a square ``size``×``size`` uint8 array with ``channels`` = 1 (grey, ITU-R
601-2 luma as Pillow's ``convert("L")``) or 3 (RGB; an alpha channel is dropped, a grey image is
repeated). ``crop="centre"`` keeps the centred square of side min(H, W) (CelebA's faces stay
round); ``crop="none"`` squashes the whole image. Resampling is Pillow's bicubic filter, which
is antialiased when shrinking. JPEGs are decoded at a reduced DCT scale when that still leaves
at least ``size`` pixels (``Image.draft``), several times faster for large photos.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
Crop = Literal["centre", "none"]


def list_images(root: Path) -> tuple[list[Path], int]:
    """PNG/JPEG files under ``root`` recursively, sorted by relative path, and the number of
    other files ignored. Symbolic links to folders are not followed."""
    found, other = [], 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_SUFFIXES):
                found.append(Path(folder) / name)
            else:
                other += 1
    return found, other


def fit(image: Image.Image, size: int, channels: int, crop: Crop) -> np.ndarray:
    """One Pillow image -> (channels, size, size) uint8. 16-bit grey is scaled (v // 257), not clipped."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        wide = np.asarray(image, dtype=np.int64)
        image = Image.fromarray((wide // 257).clip(0, 255).astype(np.uint8), "L")
    image = image.convert("RGB" if channels == 3 else "L")
    w, h = image.size
    if crop == "centre" and w != h:  # crop first: no pixel outside the square bleeds in
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        image = image.crop((left, top, left + s, top + s))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    arr = np.asarray(image, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_image(path: Path, size: int, channels: int, crop: Crop) -> np.ndarray | str:
    """Decode one file -> (channels, size, size) uint8, or the reason it could not be read."""
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                w, h = image.size
                scale = max(1, min(w, h) // size) if crop == "centre" else max(1, min(w // size, h // size))
                image.draft("RGB" if channels == 3 else "L", (w // scale, h // scale))
            return fit(image, size, channels, crop)
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, DecompressionBombError, ...)
        return f"{type(exc).__name__}: {exc}"


def fit_array(block: np.ndarray, size: int, channels: int, crop: Crop) -> np.ndarray:
    """Images from an array block -> (n, channels, size, size) uint8.

    ``block`` is (n, H, W) or (n, H, W, C) with C in {1, 3, 4}, already uint8 (see
    :func:`to_uint8`). Arrays that already have the target size and channels are copied as is.
    """
    if block.ndim == 3:
        block = block[..., None]
    c = block.shape[-1]
    if block.shape[1:3] == (size, size) and (c == channels or (c == 4 and channels == 3)):
        return np.ascontiguousarray(block[..., :channels].transpose(0, 3, 1, 2))
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[c]
    out = np.empty((len(block), channels, size, size), np.uint8)
    for i, img in enumerate(block):
        out[i] = fit(Image.fromarray(img[..., 0] if c == 1 else img, mode), size, channels, crop)
    return out


def to_uint8(block: np.ndarray) -> np.ndarray:
    """Array pixels -> uint8: uint8 as is, bool as {0, 255}, floats in [0, 1] scaled by 255 and
    rounded. Raises ValueError for other dtypes or floats outside [0, 1]."""
    if block.dtype == np.uint8:
        return block
    if block.dtype == np.bool_:
        return block.astype(np.uint8) * np.uint8(255)
    if block.dtype.kind == "f":
        lo, hi = float(np.min(block, initial=0.0)), float(np.max(block, initial=0.0))
        if not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0):
            raise ValueError(f"float pixels must lie in [0, 1], found {lo:g}..{hi:g}")
        return np.rint(block * 255.0).astype(np.uint8)
    raise ValueError(f"pixels of dtype {block.dtype} are not supported (use uint8, bool or float in [0, 1])")
