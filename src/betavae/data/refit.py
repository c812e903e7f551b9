"""Refit the renderer's shape parameters to reference images (spec §4.2, ``calibrate --refit``).

Per shape, the geometry (square: side; ellipse: width, height; heart: h, r, a, b, y₀; pixels at
scale 1) is searched with Nelder–Mead to maximise the mean IoU against reference images of that
shape, and for each candidate geometry the coverage threshold is chosen **exactly**: the
sub-sample counts of every pixel are computed once per geometry, and the IoU of every possible
threshold k/S² follows from per-image histograms of the counts (``_best_threshold``). The
object-frame coordinates of every sub-sample are computed once per image, so one evaluation is
one ``inside`` test and one box sum.

Reference images come from any object with ``images(indices)`` over the 737,280-image grid
(the official file via :func:`betavae.data.dsprites_file.load_dsprites_file`, or a renderer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from betavae.data.dsprites import (
    FULL_FACTOR_SIZES,
    IMAGE_SIZE,
    SHAPE_NAMES,
    RendererConfig,
    factors_to_index,
)
from betavae.data.render import _geometry, inside, shape_radii
from betavae.errors import BetavaeError

GEOMETRY = {
    "square": ("square_side",),
    "ellipse": ("ellipse_width", "ellipse_height"),
    "heart": ("heart_h", "heart_r", "heart_a", "heart_b", "heart_y0"),
}
THRESHOLD = {"square": "square_threshold", "ellipse": "ellipse_threshold", "heart": "heart_threshold"}


@dataclass
class ShapeFit:
    """Result for one shape: IoU before/after, parameters before/after, evaluations used."""

    shape: str
    iou_before: float
    iou_after: float
    before: dict[str, float]
    after: dict[str, float]
    evaluations: int


@dataclass
class RefitResult:
    config: RendererConfig
    shapes: list[ShapeFit] = field(default_factory=list)

    def overrides(self) -> dict[str, float]:
        """The changed renderer fields, rounded to 4 decimals: {field: value}."""
        return {k: round(v, 4) for fit in self.shapes for k, v in fit.after.items()}


class _ShapeProblem:
    """Sub-sample coordinates of ``m`` images of one shape, and their reference pixels.

    For image i, window pixel (r, c) and sub-sample (p, q), ``u, v`` (float32,
    (m, W·ss, W·ss)) are the object-frame coordinates divided by the image's scale, so
    ``inside(shape, u, v, 1, cfg)`` tests every candidate geometry without recomputing them.
    """

    def __init__(self, shape: int, factors: np.ndarray, reference: np.ndarray, cfg: RendererConfig,
                 half: int) -> None:
        self.shape, self.cfg, self.ss, self.size = shape, cfg, cfg.supersample, 2 * half
        g = _geometry(factors, cfg)
        ss, size = self.ss, self.size
        sub = (np.arange(size)[:, None] + (np.arange(ss)[None, :] + 0.5) / ss).reshape(-1)
        left = np.floor(g["xc"]).astype(np.int64) - half
        top = np.floor(g["yc"]).astype(np.int64) - half
        dx = (left[:, None] + sub[None, :] - g["xc"][:, None])[:, None, :]
        dy = (top[:, None] + sub[None, :] - g["yc"][:, None])[:, :, None]
        c, s, scale = (g[k][:, None, None] for k in ("cos", "sin", "scale"))
        self.u = ((dx * c - dy * s) / scale).astype(np.float32)
        self.v = ((dx * s + dy * c) / scale).astype(np.float32)
        # reference pixels inside the window (canvas-clipped) and the count outside it
        ref = reference.reshape(len(factors), IMAGE_SIZE, IMAGE_SIZE) > 0
        rows = top[:, None] + np.arange(size)[None, :]
        cols = left[:, None] + np.arange(size)[None, :]
        valid_r, valid_c = (rows >= 0) & (rows < IMAGE_SIZE), (cols >= 0) & (cols < IMAGE_SIZE)
        window = ref[np.arange(len(factors))[:, None, None], rows.clip(0, IMAGE_SIZE - 1)[:, :, None],
                     cols.clip(0, IMAGE_SIZE - 1)[:, None, :]]
        self.valid = valid_r[:, :, None] & valid_c[:, None, :]  # (m, W, W)
        self.ref = window & self.valid
        self.ref_outside = ref.reshape(len(factors), -1).sum(1) - self.ref.reshape(len(factors), -1).sum(1)
        self.ref_total = ref.reshape(len(factors), -1).sum(1)

    def counts(self, cfg: RendererConfig) -> np.ndarray:
        """Inside sub-samples per window pixel: (m, W, W) int; off-canvas pixels count 0."""
        m, size, ss = len(self.u), self.size, self.ss
        hit = inside(self.shape, self.u, self.v, 1.0, cfg)
        counts = hit.reshape(m, size, ss, size, ss).sum(axis=(2, 4))
        return np.where(self.valid, counts, 0)

    def best_threshold(self, counts: np.ndarray) -> tuple[float, int]:
        """(mean IoU, count threshold k ≥ 1) maximising the mean IoU over the images."""
        levels = self.ss**2 + 1
        m = len(counts)
        flat, ref = counts.reshape(m, -1), self.ref.reshape(m, -1)
        offset = (np.arange(m) * levels)[:, None]
        on = np.bincount((flat + offset)[ref], minlength=m * levels).reshape(m, levels)
        off = np.bincount((flat + offset)[~ref], minlength=m * levels).reshape(m, levels)
        # pixels with count >= k, for k = 0..S²: reverse cumulative sums
        inter = np.cumsum(on[:, ::-1], axis=1)[:, ::-1]
        extra = np.cumsum(off[:, ::-1], axis=1)[:, ::-1]
        union = self.ref_total[:, None] + extra
        iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0).mean(0)
        k = 1 + int(np.argmax(iou[1:]))
        return float(iou[k]), k

    def iou(self, cfg: RendererConfig, threshold: float) -> float:
        """Mean IoU of ``cfg``'s geometry at a fixed threshold fraction."""
        k = int(math.ceil(threshold * self.ss**2 - 1e-9))
        counts = self.counts(cfg)
        ours = counts >= k
        inter = (ours & self.ref).reshape(len(counts), -1).sum(1)
        union = self.ref_total + (ours & ~self.ref).reshape(len(counts), -1).sum(1)
        return float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).mean())


def _sample_shape(shape: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random (n, 5) factor classes with the given shape."""
    sizes = FULL_FACTOR_SIZES[1:]
    factors = np.stack([rng.integers(0, s, size=n) for s in sizes], axis=1)
    factors[:, 0] = shape
    return factors


def _fit_shape(problem: _ShapeProblem, cfg: RendererConfig, name: str, max_evals: int
               ) -> tuple[ShapeFit, RendererConfig]:
    """Nelder–Mead over one shape's geometry, threshold solved per candidate; never worse."""
    names = GEOMETRY[name]
    x0 = np.array([getattr(cfg, k) for k in names], dtype=float)
    before = {k: float(getattr(cfg, k)) for k in (*names, THRESHOLD[name])}
    iou_before = problem.iou(cfg, getattr(cfg, THRESHOLD[name]))

    def with_geometry(x: np.ndarray) -> RendererConfig:
        return cfg.model_copy(update=dict(zip(names, map(float, x), strict=True)))

    def loss(x: np.ndarray) -> float:
        return -problem.best_threshold(problem.counts(with_geometry(x)))[0]

    steps = np.maximum(0.05 * np.abs(x0), 0.3)
    simplex = np.vstack([x0] + [x0 + np.eye(len(x0))[i] * steps[i] for i in range(len(x0))])
    res = minimize(loss, x0, method="Nelder-Mead",
                   options={"initial_simplex": simplex, "maxfev": max_evals, "xatol": 1e-3, "fatol": 1e-6})
    iou_after, k = problem.best_threshold(problem.counts(with_geometry(res.x)))
    if iou_after <= iou_before:  # never return something worse than the start
        return ShapeFit(name, iou_before, iou_before, before, before, int(res.nfev)), cfg
    best = {**dict(zip(names, map(float, res.x), strict=True)), THRESHOLD[name]: k / problem.ss**2}
    fitted = RendererConfig(**{**cfg.model_dump(), **best})  # validated
    return ShapeFit(name, iou_before, iou_after, before, best, int(res.nfev)), fitted


def refit(
    reference_source: object, start: RendererConfig, n: int, rng: np.random.Generator,
    shapes: tuple[str, ...] = SHAPE_NAMES, max_evals: int = 200,
) -> RefitResult:
    """Fit geometry and threshold per shape to ``n`` random reference images of that shape.

    ``reference_source.images(indices)`` -> (n, [1,] 64, 64) over the full grid. Returns the
    fitted config (fields of shapes not fitted unchanged) and per-shape IoU before/after. The
    IoU "after" is measured on the same images (an in-sample figure; check it on fresh images
    with :func:`betavae.data.dsprites.calibrate`).
    """
    unknown = set(shapes) - set(SHAPE_NAMES)
    if unknown:
        raise BetavaeError(f"refit: unknown shape(s) {sorted(unknown)}; choose from {list(SHAPE_NAMES)}")
    if n < 1:
        raise BetavaeError("refit: n must be at least 1")
    cfg, fits = start, []
    for name in shapes:
        shape = SHAPE_NAMES.index(name)
        # a window generous enough for geometries up to 1.3x the start's (largest scale is 1)
        half = int(math.ceil(1.3 * shape_radii(start)[shape])) + 1
        factors = _sample_shape(shape, n, rng)
        full = np.concatenate([np.zeros((n, 1), np.int64), factors], axis=1)
        reference = np.asarray(reference_source.images(factors_to_index(full)))  # type: ignore[attr-defined]
        problem = _ShapeProblem(shape, factors, reference, cfg, half)
        fit, cfg = _fit_shape(problem, cfg, name, max_evals)
        fits.append(fit)
    return RefitResult(cfg, fits)
