"""Procedural dSprites renderer (spec §4.2; geometry fitted to Matthey et al. 2017's frames).

Geometry. Pixel (row r, col c) covers [c, c+1) × [r, r+1); x = column, y = row (down). The
object centre is (16 + 32·posX, 16 + 32·posY) with posX, posY ∈ linspace(0, 1, 32). An object
point (u, v) lands at (x_c + u·cosθ + v·sinθ, y_c − u·sinθ + v·cosθ): θ turns the sprite
counter-clockwise on screen. A pixel is on when at least a fraction T of its S×S sub-samples
(centres at c + (k + ½)/S) lie inside the shape.

Two renderers give (n, 1, 64, 64) uint8 in {0, 1} from (n, 5) factor classes
``(shape, scale, orientation, posX, posY)``:

* :func:`render_exact` evaluates every sub-sample in a window around each sprite (the
  reference; a few hundred images/s).
* :class:`TemplateRenderer` snaps the centre to a 1/Q px grid (Q = ``subpixel``) and pastes a
  precomputed binary template per (shape, scale, orientation, sub-pixel offset). Templates for one
  (shape, scale, orientation) are built lazily from one high-resolution indicator image with
  strided box sums, so a batch costs a few gathers. The snapped centre moves by ≤ 1/(2Q) px;
  see ``docs/dsprites.md`` for the measured disagreement with :func:`render_exact`.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from betavae.data.dsprites_grid import FULL_FACTOR_SIZES, IMAGE_SIZE, value_tables

logger = logging.getLogger(__name__)
class RendererConfig(BaseModel):
    """Geometry of the procedural renderer (spec §4.2; [recon, fitted] against official frames).

    Lengths are pixels at scale 1 and are multiplied by the scale value. A pixel is on when the
    fraction of its ``supersample``² sub-samples inside the shape is ≥ the shape's threshold.
    ``method="fast"`` snaps the centre to a 1/``subpixel`` px grid and pastes precomputed
    templates; ``method="exact"`` evaluates every sub-sample (the reference).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    method: Literal["fast", "exact"] = "fast"
    supersample: int = Field(16, ge=1, le=64)
    subpixel: int = Field(32, ge=1, le=128)
    square_side: float = Field(20.0, gt=0)
    square_threshold: float = Field(0.9, gt=0, le=1)
    ellipse_width: float = Field(25.5, gt=0)
    ellipse_height: float = Field(14.5, gt=0)
    ellipse_threshold: float = Field(0.5, gt=0, le=1)
    heart_h: float = Field(7.63, gt=0)
    heart_r: float = Field(5.44, gt=0)
    heart_a: float = 4.51
    heart_b: float = 5.21
    heart_y0: float = 1.13
    heart_threshold: float = Field(0.8, gt=0, le=1)
    y_down: bool = True  # posY = 0 at the top [recon]; False puts posY = 0 at the bottom

    @model_validator(mode="after")
    def _check_subpixel(self) -> RendererConfig:
        if self.subpixel % self.supersample:
            raise ValueError(
                f"subpixel ({self.subpixel}) must be a multiple of supersample ({self.supersample})"
            )
        return self


N_ORIENT = FULL_FACTOR_SIZES[3] - 1  # 39 distinct angles: orientation 39 (2π) ≡ 0


def _geometry(factors: np.ndarray, cfg: RendererConfig) -> dict[str, np.ndarray]:
    """Per-image geometry of (n, 5) classes: shape id, scale index and value, orientation index
    (mod 39), cos θ, sin θ and centre (x_c, y_c) in pixels; all (n,)."""
    tables = value_tables()
    shape, sc, orient, px, py = (factors[:, k] for k in range(5))
    orient = orient % N_ORIENT
    theta = tables[3][orient]
    pos_y = tables[5][py] if cfg.y_down else 1.0 - tables[5][py]
    return {
        "shape": shape, "scale_idx": sc, "scale": tables[2][sc], "orient": orient,
        "cos": np.cos(theta), "sin": np.sin(theta),
        "xc": 16.0 + 32.0 * tables[4][px], "yc": 16.0 + 32.0 * pos_y,
    }


def inside(shape: int, u: Any, v: Any, s: Any, cfg: RendererConfig) -> Any:
    """Whether object-frame points (u, v) (pixels, v down) lie in ``shape`` at scale ``s``.

    Works on NumPy arrays or torch tensors of broadcastable shapes; returns booleans.
    """
    if shape == 0:  # square, side square_side·s
        half = 0.5 * cfg.square_side * s
        return (abs(u) <= half) & (abs(v) <= half)
    if shape == 1:  # ellipse, full axes width·s (along u) × height·s (along v)
        a, b = 0.5 * cfg.ellipse_width * s, 0.5 * cfg.ellipse_height * s
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    # heart: diamond |u| + |v − y0| ≤ h  ∪  discs of radius r at (±a, y0 − b)
    au = abs(u)
    dv = v - cfg.heart_y0 * s
    diamond = au + abs(dv) <= cfg.heart_h * s
    disc = (au - cfg.heart_a * s) ** 2 + (dv + cfg.heart_b * s) ** 2 <= (cfg.heart_r * s) ** 2
    return diamond | disc


def shape_radii(cfg: RendererConfig) -> tuple[float, float, float]:
    """Largest distance (pixels) from the centre to a point of each shape at scale 1."""
    h, y0 = cfg.heart_h, cfg.heart_y0
    heart = max(abs(y0) + h, math.hypot(h, y0),
                math.hypot(cfg.heart_a, y0 - cfg.heart_b) + cfg.heart_r)
    return cfg.square_side / math.sqrt(2), max(cfg.ellipse_width, cfg.ellipse_height) / 2, heart


def circumradius(cfg: RendererConfig) -> float:
    """Largest distance (pixels) from the centre to any shape point at the largest scale."""
    return float(value_tables()[2].max()) * max(shape_radii(cfg))


def count_thresholds(cfg: RendererConfig) -> tuple[int, int, int]:
    """Minimum number of inside sub-samples (of S²) for a pixel to be on, per shape."""
    n = cfg.supersample**2
    ts = (cfg.square_threshold, cfg.ellipse_threshold, cfg.heart_threshold)
    return tuple(int(math.ceil(t * n - 1e-9)) for t in ts)  # type: ignore[return-value]


def _half_window(cfg: RendererConfig) -> int:
    return int(math.ceil(circumradius(cfg))) + 1


def _paste(bits: np.ndarray, top: np.ndarray, left: np.ndarray, pad: int) -> np.ndarray:
    """Place (n, S, S) windows with top-left pixel (top, left) on 64×64 canvases: (n, 1, 64, 64)."""
    n, size = bits.shape[0], bits.shape[1]
    width = IMAGE_SIZE + 2 * pad
    canvas = np.zeros((n, width * width), dtype=np.uint8)
    ar = np.arange(size)
    lin = (top + pad)[:, None, None] * width + (left + pad)[:, None, None] + ar[:, None] * width + ar
    np.put_along_axis(canvas, lin.reshape(n, -1), bits.reshape(n, -1), axis=1)
    canvas = canvas.reshape(n, width, width)[:, pad : pad + IMAGE_SIZE, pad : pad + IMAGE_SIZE]
    return np.ascontiguousarray(canvas)[:, None]


def snap_offset(q: int, supersample: int) -> float:
    """δ of the snapping grid (j + δ)/Q: ½ when Q/S_s is even, else 0. Either way no grid point
    sits where a sub-sample column meets a whole-pixel edge, so axis-aligned squares with
    integer half-sides render exactly at every position."""
    return 0.5 if (q // supersample) % 2 == 0 else 0.0


def snap_centre(x: np.ndarray, q: int, supersample: int = 16) -> np.ndarray:
    """Nearest point of the grid (j + δ)/Q px (see :func:`snap_offset`)."""
    delta = snap_offset(q, supersample)
    return (np.rint(x * q - delta) + delta) / q


def render_exact(
    factors: np.ndarray, cfg: RendererConfig | None = None, chunk: int = 8, snap: int | None = None
) -> np.ndarray:
    """Reference renderer: every sub-sample of a window around each sprite, in float64.

    factors: (n, 5) int classes (shape, scale, orientation, posX, posY) -> (n, 1, 64, 64) uint8.
    ``snap``: round the centre to the nearest 1/snap px first, as :class:`TemplateRenderer`
    does with ``snap = subpixel`` (used to test that renderer bit for bit).
    """
    cfg = cfg or RendererConfig()
    factors = np.asarray(factors, dtype=np.int64).reshape(-1, 5)
    g = _geometry(factors, cfg)
    if snap:
        g["xc"], g["yc"] = (snap_centre(g[k], snap, cfg.supersample) for k in ("xc", "yc"))
    half, ss = _half_window(cfg), cfg.supersample
    size = 2 * half
    sub = (np.arange(size)[:, None] + (np.arange(ss)[None, :] + 0.5) / ss).reshape(-1)  # (S·ss,)
    left = np.floor(g["xc"]).astype(np.int64) - half
    top = np.floor(g["yc"]).astype(np.int64) - half
    thresholds = count_thresholds(cfg)
    bits = np.zeros((len(factors), size, size), dtype=np.uint8)
    for shape in range(3):
        rows = np.flatnonzero(g["shape"] == shape)
        for start in range(0, len(rows), chunk):
            i = rows[start : start + chunk]
            dx = (left[i, None] + sub[None, :] - g["xc"][i, None])[:, None, :]  # (m, 1, L)
            dy = (top[i, None] + sub[None, :] - g["yc"][i, None])[:, :, None]  # (m, L, 1)
            c, s = g["cos"][i, None, None], g["sin"][i, None, None]
            hit = inside(shape, dx * c - dy * s, dx * s + dy * c, g["scale"][i, None, None], cfg)
            counts = hit.reshape(len(i), size, ss, size, ss).sum(axis=(2, 4))
            bits[i] = counts >= thresholds[shape]
    return _paste(bits, top, left, half)


class TemplateRenderer:
    """Fast renderer: centre snapped to a 1/Q px grid (Q = ``cfg.subpixel``), templates pasted.

    The store holds, per (shape, scale, orientation mod 39), Q×Q bit-packed templates of S×S
    pixels (S = 2·(⌈circumradius⌉ + 1), 32 with the default geometry), one per sub-pixel offset
    of the snapped centre (92 MB for Q = 32 once all are built; pages are touched lazily). A
    (shape, scale, orientation) is built on first use (≈ 6 ms), so the first batches are slower;
    :meth:`warm` builds all 702 of them (≈ 4–5 s). Deterministic; with ``snap = Q`` it matches
    :func:`render_exact` bit for bit.
    """

    def __init__(self, cfg: RendererConfig | None = None) -> None:
        self.cfg = cfg = cfg or RendererConfig()
        self.half = _half_window(cfg)
        self.size = 2 * self.half
        q = cfg.subpixel
        n_scale = FULL_FACTOR_SIZES[2]
        packed = (self.size + 7) // 8
        self._store = np.zeros((3, n_scale, N_ORIENT, q, q, self.size, packed), dtype=np.uint8)
        self._ready = np.zeros((3, n_scale, N_ORIENT), dtype=bool)
        self._thresholds = count_thresholds(cfg)
        self._delta = snap_offset(q, cfg.supersample)
        self._lattice = self._lattice_plan()
        self._work: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()  # builds share the work buffers

    def _lattice_plan(self) -> np.ndarray:
        """The snapped centre is X + (q + δ)/Q. Sub-sample k of template pixel t then lies
        (j + ½)/Q px from it, j = Q(t − H) + ⌊m/2 − δ⌋ − q + m·k with m = Q/S_s (m/2 − δ is always
        an integer plus ½). All such j form one lattice of Q·(S + 1) points; with j_min its first,
        j − j_min = Q·t + (Q − 1 − q) + m·k. Returns its coordinates in pixels: (Q·(S + 1),)."""
        q, ss, half = self.cfg.subpixel, self.cfg.supersample, self.half
        m = q // ss
        j_min = -q * half + math.floor(m / 2 - self._delta) - (q - 1)
        return (j_min + np.arange(q * (self.size + 1)) + 0.5) / q

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """A view of a reusable work buffer (kept between builds: no page faults per build)."""
        size = int(np.prod(shape))
        buf = self._work.get(name)
        if buf is None or buf.size < size:
            buf = self._work[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)

    def _window(self, arr: np.ndarray) -> np.ndarray:
        """Sub-sample counts along axis 0: arr (Q·(S+1), ...) -> (S, Q, ...) indexed [t, q].

        Entry [t, q] = Σ_k arr[Q·t + (Q − 1 − q) + m·k], k < S_s: per-residue running sums
        (reshape to (·, m)), one subtraction and a reshape; no gathers.
        """
        q, ss, size = self.cfg.subpixel, self.cfg.supersample, self.size
        split = arr.reshape(-1, q // ss, *arr.shape[1:])
        cs = self._buffer("cs", (split.shape[0] + 1, *split.shape[1:]), np.int32)
        cs[0] = 0
        for i, row in enumerate(split):  # row-wise running sum: far faster than cumsum(axis=0)
            np.add(cs[i], row, out=cs[i + 1])
        sums = self._buffer("sums", (ss * size, *split.shape[1:]), np.int32)
        np.subtract(cs[ss : ss + ss * size], cs[: ss * size], out=sums)
        return sums.reshape(size, q, *arr.shape[1:])[:, ::-1]

    def _build(self, shape: int, sc: int, orient: int) -> None:
        """Templates of one (shape, scale, orientation) for all Q² sub-pixel offsets."""
        theta = value_tables()[3][orient]
        c, s = math.cos(theta), math.sin(theta)
        scale = float(value_tables()[2][sc])
        d, q = self._lattice, self.cfg.subpixel
        radius = shape_radii(self.cfg)[shape] * scale + 1e-3  # nothing lies outside |d| ≤ radius
        lo, hi = (int(i) for i in np.searchsorted(d, [-radius, radius]))
        near = d[lo:hi].astype(np.float32)
        hit = self._buffer("hit", (len(d), hi - lo), np.int16)  # [x, y]; y only in [lo, hi)
        hit[:lo], hit[hi:] = 0, 0
        step = max(1, 65536 // max(hi - lo, 1))  # bounded temporaries
        for x0 in range(0, hi - lo, step):
            dx, dy = near[x0 : x0 + step, None], near[None, :]
            hit[lo + x0 : lo + x0 + len(dx)] = inside(shape, dx * c - dy * s, dx * s + dy * c, scale, self.cfg)
        rows = self._buffer("rows", (len(d), self.size, q), np.int32)  # [y, tx, qx]
        rows[:lo], rows[hi:] = 0, 0
        rows[lo:hi] = self._window(hit).transpose(2, 0, 1)
        counts = self._window(rows)  # (Sy, Qy, Sx, Qx)
        on = counts.transpose(1, 3, 0, 2) >= self._thresholds[shape]  # (Qy, Qx, Sy, Sx)
        self._store[shape, sc, orient] = np.packbits(on, axis=-1)
        self._ready[shape, sc, orient] = True

    def _ensure(self, cells: Any) -> None:
        """Build the (shape, scale, orientation) rows of ``cells`` that are not built yet."""
        with self._lock:
            for shape, sc, orient in cells:
                if not self._ready[shape, sc, orient]:
                    self._build(int(shape), int(sc), int(orient))

    def warm(self, progress: bool = False) -> None:
        """Build every template now (702 (shape, scale, orientation) cells)."""
        cells = np.argwhere(~self._ready)
        if progress:
            from tqdm.auto import tqdm

            cells = tqdm(cells, desc="dSprites templates", unit="cell")
        self._ensure(cells)

    def __call__(self, factors: np.ndarray) -> np.ndarray:
        """Render (n, 5) classes (shape, scale, orientation, posX, posY): (n, 1, 64, 64) uint8."""
        factors = np.asarray(factors, dtype=np.int64).reshape(-1, 5)
        g = _geometry(factors, self.cfg)
        shape, sc, orient = g["shape"], g["scale_idx"], g["orient"]
        missing = ~self._ready[shape, sc, orient]
        if missing.any():
            self._ensure(np.unique(np.stack([shape, sc, orient], 1)[missing], axis=0))
        q = self.cfg.subpixel
        xq = np.rint(g["xc"] * q - self._delta).astype(np.int64)
        yq = np.rint(g["yc"] * q - self._delta).astype(np.int64)
        packed = self._store[shape, sc, orient, yq % q, xq % q]  # (n, S, S/8)
        bits = np.unpackbits(packed, axis=-1, count=self.size)
        return _paste(bits, yq // q - self.half, xq // q - self.half, self.half)


def make_renderer(cfg: RendererConfig | None = None) -> Any:
    """The renderer ``cfg.method`` names: a callable (n, 5) classes -> (n, 1, 64, 64) uint8."""
    cfg = cfg or RendererConfig()
    if cfg.method == "exact":
        return lambda factors: render_exact(factors, cfg)
    return shared_template_renderer(cfg)


@functools.lru_cache(maxsize=4)
def shared_template_renderer(cfg: RendererConfig) -> TemplateRenderer:
    """One :class:`TemplateRenderer` per config and process, so sources share their templates."""
    return TemplateRenderer(cfg)
