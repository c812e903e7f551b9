"""Image measures of spec/dsprites-vsa.md §7 on NumPy arrays (no model, no torch).

B(x̂) = [sigmoid(ℓ) > 0.5] = [ℓ > 0]. IoU of two empty images is 1. Objects are 8-connected
components of area ≥ a_min.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT = np.ones((3, 3), bool)


def binarise(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits) > 0


def bce_per_image(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """BCE with logits in nats per image, summed over pixels: (N, …) -> (N,)."""
    z = np.asarray(logits, np.float64).reshape(len(logits), -1)
    t = np.asarray(x, np.float64).reshape(len(x), -1)
    return (np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).sum(1)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of binary images (N, …) -> (N,); 1 where both are empty."""
    a = np.asarray(a, bool).reshape(len(a), -1)
    b = np.asarray(b, bool).reshape(len(b), -1)
    union = (a | b).sum(1)
    return np.where(union > 0, (a & b).sum(1) / np.maximum(union, 1), 1.0)


def components(binary: np.ndarray, a_min: int = 4) -> list[np.ndarray]:
    """8-connected components of one (H, W) binary image with area ≥ a_min: list of (H, W) bool."""
    lab, n = ndimage.label(np.asarray(binary, bool).squeeze(), structure=EIGHT)
    if n == 0:
        return []
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    return [lab == i for i in range(1, n + 1) if areas[i] >= a_min]


def count_objects(binary: np.ndarray, a_min: int = 4) -> np.ndarray:
    """Objects per image: (N, H, W) or (N, 1, H, W) binary -> (N,) int."""
    return np.array([len(components(b, a_min)) for b in binary], dtype=np.int64)


def match(binary: np.ndarray, targets: list[np.ndarray], a_min: int = 4) -> list[np.ndarray | None]:
    """Assign components of ``binary`` to target masks by best IoU, greedily, one-to-one.

    Returns, per target, its component (H, W) bool, or None when no component overlaps it.
    """
    comps = components(binary, a_min)
    out: list[np.ndarray | None] = [None] * len(targets)
    if not comps:
        return out
    t = np.stack([np.asarray(m, bool).squeeze() for m in targets])
    c = np.stack(comps)
    scores = iou(np.repeat(t, len(c), 0), np.tile(c, (len(t), 1, 1))).reshape(len(t), len(c))
    scores[(t.reshape(len(t), 1, -1) & c.reshape(1, len(c), -1)).sum(-1) == 0] = 0.0
    while scores.size and scores.max() > 0:
        i, j = np.unravel_index(np.argmax(scores), scores.shape)
        out[i] = c[j]
        scores[i, :], scores[:, j] = 0.0, 0.0
    return out


def count_report(pred: np.ndarray, n: np.ndarray, prefix: str) -> dict[str, object]:
    """Count accuracy overall and per n, and the confusion matrix rows n = 2..5, columns 0..6+."""
    out: dict[str, object] = {f"{prefix}.count_acc": float((pred == n).mean())}
    for v in np.unique(n):
        out[f"{prefix}.count_acc.n{int(v)}"] = float((pred[n == v] == v).mean())
    conf = np.zeros((4, 7), np.int64)
    for t, p in zip(n, np.minimum(pred, 6), strict=True):
        if 2 <= t <= 5:
            conf[t - 2, p] += 1
    out[f"{prefix}.count_confusion"] = conf.tolist()
    return out
