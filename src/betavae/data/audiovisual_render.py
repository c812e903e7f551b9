"""Procedural object–action video (spec §14.2) and its video features (spec §14.6).

Five sprites (pen = capsule, phone = rounded rectangle, spoon = ellipse + handle, knife = blade +
handle, fork = tines + handle) on a plain table, 30 frames (3 s at 10 fps). Actions: still (small
jitter), left/right/up/down (translation of 0.22·img_size, smoothstep ease-in-out), rotate
(±90°). Geometry is rendered as a foreground mask (T, H, W); colour is composited only where
needed (the embedded frame, previews). Video augmentation sets: identity, flip (mirror x for
still/up/down/rotate, mirror y for left/right, so the direction word stays true), brightness
+0.2, brightness −0.1, saturation ×2, zoom 1.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

T = 30
VIDEO_SETS = ("identity", "flip", "bright+0.2", "bright-0.1", "saturation2", "zoom1.2")
TABLE = np.array([0.62, 0.48, 0.34], dtype=np.float32)


@dataclass(frozen=True)
class Scene:
    """One base clip's draw: object k, action a (0 = still), sprite colour, scale, start, angle."""

    obj: int
    action: int
    color: tuple[float, float, float]
    scale: float
    cx: float  # start centre, fraction of the image
    cy: float
    angle: float  # radians, long axis
    spin: int  # +1 or −1: rotation direction of "rotate"
    jitter_seed: int


def draw_scene(rng: np.random.Generator, obj: int, action: int) -> Scene:
    """Seeded colour, scale (0.8–1.2), start position (motion stays inside) and angle."""
    color = tuple(float(c) for c in rng.uniform(0.05, 0.95, 3))
    dx = {1: 0.11, 2: -0.11}.get(action, 0.0)  # start on the side the motion leaves
    dy = {3: 0.11, 4: -0.11}.get(action, 0.0)
    cx = 0.5 + dx + rng.uniform(-0.06, 0.06)
    cy = 0.5 + dy + rng.uniform(-0.06, 0.06)
    return Scene(obj, action, color, float(rng.uniform(0.8, 1.2)), float(cx), float(cy),
                 float(rng.uniform(-0.35, 0.35)), int(rng.choice([-1, 1])), int(rng.integers(2**31)))


def trajectory(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame centre (x, y as image fractions; y grows downwards) and angle: (T,) each."""
    t = np.linspace(0.0, 1.0, T)
    ease = t * t * (3 - 2 * t)
    x = np.full(T, scene.cx)
    y = np.full(T, scene.cy)
    ang = np.full(T, scene.angle)
    d = 0.22
    if scene.action == 0:
        j = np.random.default_rng(scene.jitter_seed).normal(0.0, 0.002, (3, T))
        x, y, ang = x + j[0], y + j[1], ang + 2 * j[2]
    elif scene.action in (1, 2):
        x = x + (d if scene.action == 2 else -d) * ease
    elif scene.action in (3, 4):
        y = y + (d if scene.action == 4 else -d) * ease
    else:
        ang = ang + scene.spin * (np.pi / 2) * ease
    return x, y, ang


def _shape(obj: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sprite ``obj`` in local coordinates (u along the long axis, unit length = sprite length)."""
    au, av = np.abs(u), np.abs(v)
    if obj == 0:  # pen: capsule
        return (np.maximum(au - 0.45, 0) ** 2 + av**2) <= 0.045**2
    if obj == 1:  # phone: rounded rectangle
        qu, qv = np.maximum(au - 0.34, 0), np.maximum(av - 0.16, 0)
        return (qu**2 + qv**2 <= 0.06**2) & (au <= 0.4) & (av <= 0.22)
    handle = (u >= -0.5) & (u <= 0.12) & (av <= 0.03)
    if obj == 2:  # spoon: bowl + handle
        return handle | (((u - 0.32) / 0.18) ** 2 + (v / 0.1) ** 2 <= 1)
    if obj == 3:  # knife: tapering blade + thicker handle
        blade = (u >= 0.0) & (u <= 0.5) & (v >= -0.02) & (v <= 0.08 * (1 - u / 0.55))
        return blade | ((u >= -0.5) & (u < 0.0) & (av <= 0.045))
    head = (u >= 0.12) & (u <= 0.22) & (av <= 0.09)  # fork: handle, head, four tines
    tines = (u > 0.22) & (u <= 0.5) & (av <= 0.09) & (np.mod(v + 0.09, 0.06) < 0.03)
    return handle | head | tines


def render_mask(scene: Scene, size: int) -> np.ndarray:
    """Foreground mask (T, size, size) bool of the un-augmented clip."""
    x, y, ang = trajectory(scene)
    g = (np.arange(size, dtype=np.float32) + 0.5) / size
    length = 0.36 * scene.scale
    px = (g[None, None, :] - x[:, None, None].astype(np.float32)) / length
    py = (g[None, :, None] - y[:, None, None].astype(np.float32)) / length
    c, s = np.cos(ang)[:, None, None].astype(np.float32), np.sin(ang)[:, None, None].astype(np.float32)
    return _shape(scene.obj, c * px + s * py, -s * px + c * py)


def augment_mask(mask: np.ndarray, video_set: int, action: int) -> np.ndarray:
    """Geometric part of a video set (flip, zoom) applied to masks (..., H, W)."""
    name = VIDEO_SETS[video_set]
    if name == "flip":
        return mask[..., ::-1, :] if action in (1, 2) else mask[..., :, ::-1]
    if name == "zoom1.2":
        return mask[..., _zoom_index(mask.shape[-2]), :][..., _zoom_index(mask.shape[-1])]
    return mask


def _zoom_index(n: int, factor: float = 1.2) -> np.ndarray:
    return np.clip(((np.arange(n) + 0.5 - n / 2) / factor + n / 2).astype(np.int64), 0, n - 1)


def colorize(mask: np.ndarray, scene: Scene, video_set: int) -> np.ndarray:
    """RGB frames (..., H, W, 3) float32 in [0, 1] from an (augmented) mask, with the photometric
    part of the video set (brightness ±, saturation ×2)."""
    m = mask[..., None].astype(np.float32)
    rgb = TABLE * (1 - m) + np.asarray(scene.color, np.float32) * m
    name = VIDEO_SETS[video_set]
    if name.startswith("bright"):
        rgb = rgb + float(name[6:])
    elif name == "saturation2":
        grey = rgb.mean(-1, keepdims=True)
        rgb = grey + 2.0 * (rgb - grey)
    return np.clip(rgb, 0.0, 1.0)


def render_clip(scene: Scene, video_set: int, size: int) -> np.ndarray:
    """The augmented clip as RGB frames (T, size, size, 3) float32 (previews and tests)."""
    return colorize(augment_mask(render_mask(scene, size), video_set, scene.action), scene, video_set)


def block_mean(img: np.ndarray, out: int) -> np.ndarray:
    """Area downsampling of (..., H, W) to (..., out, out) by bin averages."""
    h, w = img.shape[-2:]
    rows = np.add.reduceat(img, np.linspace(0, h, out + 1).astype(int)[:-1], axis=-2)
    both = np.add.reduceat(rows, np.linspace(0, w, out + 1).astype(int)[:-1], axis=-1)
    edges_h = np.diff(np.linspace(0, h, out + 1).astype(int))
    edges_w = np.diff(np.linspace(0, w, out + 1).astype(int))
    return both / (edges_h[:, None] * edges_w[None, :])


def projection(seed: int, d_in: int = 1024, d_out: int = 512) -> np.ndarray:
    """The fixed Gaussian random projection standing in for CLIP: (d_in, d_out) float32."""
    return (np.random.default_rng([seed, 512]).standard_normal((d_in, d_out)) / np.sqrt(d_in)).astype(np.float32)


def motion_features(mask: np.ndarray) -> np.ndarray:
    """Per-frame shape and motion features (T, 17) from masks (T, H, W).

    Columns: centroid x, y; velocity dx, dy; sin 2θ, cos 2θ of the orientation θ (second moments;
    2θ because θ is defined mod π); angular velocity dθ; area; bounding-box width, height (all as
    image fractions); the seven Hu moments, log-scaled as −sign(h)·log10|h|.
    """
    t, h, w = mask.shape
    m = mask.astype(np.float64)
    xs, ys = (np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h
    xp, yp = xs[:, None] ** np.arange(4), ys[:, None] ** np.arange(4)  # (W, 4), (H, 4)
    raw = np.einsum("hq,thp->tpq", yp, m @ xp)  # raw[t, p, q] = Σ x^p y^q
    col, row = m.sum(1), m.sum(2)  # (T, W), (T, H)
    m00 = np.maximum(raw[:, 0, 0], 1e-9)
    cx, cy = raw[:, 1, 0] / m00, raw[:, 0, 1] / m00
    M = lambda p, q: raw[:, p, q]  # noqa: E731
    mu20, mu02, mu11 = M(2, 0) - cx * M(1, 0), M(0, 2) - cy * M(0, 1), M(1, 1) - cx * M(0, 1)
    mu30 = M(3, 0) - 3 * cx * M(2, 0) + 2 * cx**2 * M(1, 0)
    mu03 = M(0, 3) - 3 * cy * M(0, 2) + 2 * cy**2 * M(0, 1)
    mu21 = M(2, 1) - 2 * cx * M(1, 1) - cy * M(2, 0) + 2 * cx**2 * M(0, 1)
    mu12 = M(1, 2) - 2 * cy * M(1, 1) - cx * M(0, 2) + 2 * cy**2 * M(1, 0)
    theta = 0.5 * np.arctan2(2 * mu11, mu20 - mu02)
    dtheta = np.diff(theta, prepend=theta[:1])
    dtheta = (dtheta + np.pi / 2) % np.pi - np.pi / 2
    colspan, rowspan = col > 0, row > 0
    bw = (colspan.shape[1] - np.argmax(colspan[:, ::-1], 1) - np.argmax(colspan, 1)) * colspan.any(1) / w
    bh = (rowspan.shape[1] - np.argmax(rowspan[:, ::-1], 1) - np.argmax(rowspan, 1)) * rowspan.any(1) / h
    central = {(2, 0): mu20, (0, 2): mu02, (1, 1): mu11, (3, 0): mu30, (0, 3): mu03, (2, 1): mu21, (1, 2): mu12}
    n = {k: c / m00 ** (1 + sum(k) / 2) for k, c in central.items()}
    hu = _hu(n)
    hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-12)
    feats = [cx, cy, np.diff(cx, prepend=cx[:1]), np.diff(cy, prepend=cy[:1]), np.sin(2 * theta),
             np.cos(2 * theta), dtheta, m00 / (h * w), bw, bh]
    return np.concatenate([np.stack(feats, 1), hu], 1).astype(np.float32)


def _hu(n: dict) -> np.ndarray:
    n20, n02, n11, n30, n03, n21, n12 = (n[k] for k in [(2, 0), (0, 2), (1, 1), (3, 0), (0, 3), (2, 1), (1, 2)])
    a, b = n30 + n12, n21 + n03
    return np.stack([
        n20 + n02,
        (n20 - n02) ** 2 + 4 * n11**2,
        (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2,
        a**2 + b**2,
        (n30 - 3 * n12) * a * (a**2 - 3 * b**2) + (3 * n21 - n03) * b * (3 * a**2 - b**2),
        (n20 - n02) * (a**2 - b**2) + 4 * n11 * a * b,
        (3 * n21 - n03) * a * (a**2 - 3 * b**2) - (n30 - 3 * n12) * b * (3 * a**2 - b**2),
    ], 1)
