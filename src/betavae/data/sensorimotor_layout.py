"""The sensorimotor vector layout: modalities, time-step blocks, muting groups and masks.

The reference layout (spec/multimodal.md §1; Zambelli et al. 2020) has 28 columns, each
modality holding its newer step *t* followed by its older step *t−1*::

    0–3 q_t | 4–7 q_{t−1} | 8–11 v_t | 12–15 v_{t−1} | 16 touch_t | 17 touch_{t−1}
    18 sound_t | 19 sound_{t−1} | 20–23 m_t | 24–27 m_{t−1}

A muted entry is set to :data:`MUTED` (−2, outside the clean range [−1, 1]). Masks are boolean
arrays of shape (D,) that are True where a column is *kept*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from betavae.errors import BetavaeError

MUTED = -2.0
MODALITY_NAMES = ("joints", "vision", "touch", "sound", "motor")


@dataclass(frozen=True)
class Modality:
    """One modality: ``per_step`` columns at t, then ``per_step`` at t−1; MLP sizes of the model.

    ``encoder`` lists the hidden sizes after the input (reference joints: (40, 20));
    ``decoder`` lists the sizes from the shared split to the last hidden layer ((20, 40)).
    """

    name: str
    per_step: int
    encoder: tuple[int, ...]
    decoder: tuple[int, ...]

    @property
    def dims(self) -> int:
        return 2 * self.per_step


@dataclass(frozen=True)
class Layout:
    """An ordered list of modalities; columns follow in order (§1)."""

    modalities: tuple[Modality, ...]
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(m.name for m in self.modalities))

    @property
    def dims(self) -> int:
        return sum(m.dims for m in self.modalities)

    @property
    def sizes(self) -> list[int]:
        """Slice sizes per modality, e.g. [8, 8, 2, 2, 8]."""
        return [m.dims for m in self.modalities]

    def offset(self, name: str) -> int:
        out = 0
        for m in self.modalities:
            if m.name == name:
                return out
            out += m.dims
        raise BetavaeError(f"unknown modality {name!r}; this layout has {', '.join(self.names)}")

    def modality(self, name: str) -> Modality:
        self.offset(name)
        return next(m for m in self.modalities if m.name == name)

    def columns(self, name: str, step: str = "both") -> np.ndarray:
        """Column indices of modality ``name`` at ``step`` ∈ {"newer", "older", "both"}."""
        m, start = self.modality(name), self.offset(name)
        if step == "newer":
            return np.arange(start, start + m.per_step)
        if step == "older":
            return np.arange(start + m.per_step, start + m.dims)
        if step == "both":
            return np.arange(start, start + m.dims)
        raise BetavaeError(f"step must be newer, older or both, not {step!r}")

    def mask(self, keep: dict[str, str] | None = None) -> np.ndarray:
        """Boolean keep-mask (D,) from {modality: step}; ``None`` keeps everything."""
        out = np.zeros(self.dims, dtype=bool)
        if keep is None:
            out[:] = True
            return out
        for name, step in keep.items():
            out[self.columns(name, step)] = True
        return out

    def step_mask(self, step: str) -> np.ndarray:
        """Keep-mask of every modality's ``step`` block."""
        return self.mask({n: step for n in self.names})

    def mute(self, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """:func:`apply_mask`: ``x`` (..., D) with the columns outside ``keep`` (D,) set to :data:`MUTED`."""
        return apply_mask(x, keep)

    def column_names(self) -> list[str]:
        out = []
        for m in self.modalities:
            for step in ("t", "t-1"):
                out += [f"{m.name}{k}_{step}" if m.per_step > 1 else f"{m.name}_{step}" for k in range(m.per_step)]
        return out


def reference_layout(n_joints: int = 4, stereo: bool = True) -> Layout:
    """The Zambelli et al. (2020) layout and MLP sizes (``param_id=1``), or a reduced one (§9).

    ``n_joints`` sets the joint and motor columns per step; ``stereo=False`` gives 2 vision
    columns per step. With (2, False) the slices are [4, 4, 2, 2, 4].
    """
    vision = 4 if stereo else 2
    return Layout((
        Modality("joints", n_joints, (40, 20), (20, 40)),
        Modality("vision", vision, (40, 20), (20, 40)),
        Modality("touch", 1, (10, 5), (5, 10)),
        Modality("sound", 1, (10, 5), (5, 10)),
        Modality("motor", n_joints, (40, 10), (20, 40)),
    ))


# ---------------------------------------------------------------- groups (§2) and tests (§7)

def group_masks(layout: Layout) -> dict[int, np.ndarray]:
    """The four augmentation groups of §2 as keep-masks (group 1 complete ... 4 control loop)."""
    return {
        1: layout.mask(),
        2: layout.mask({"vision": "both"}),
        3: layout.step_mask("older"),
        4: layout.mask({"joints": "older", "vision": "both"}),
    }


def protocol_masks(layout: Layout) -> dict[str, np.ndarray]:
    """The keep-masks of the reference test script (§7, tests 1–4)."""
    g = group_masks(layout)
    return {"complete": g[1], "vision_only": g[2], "control_loop": g[4], "prediction": g[3]}


def apply_mask(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``x`` (..., D) with every column outside ``keep`` set to −2 (a new array)."""
    out = np.array(x, copy=True)
    out[..., ~np.asarray(keep, dtype=bool)] = MUTED
    return out


def augment(clean: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build the four groups from clean rows (N, D): inputs (4N, D), targets (4N, D), groups (4N,).

    Row order is group-major (all of group 1, then 2, ...), as in the reference training file.
    """
    masks = group_masks(layout)
    inputs = np.concatenate([apply_mask(clean, masks[g]) for g in (1, 2, 3, 4)])
    targets = np.concatenate([clean] * 4)
    groups = np.repeat(np.arange(1, 5), len(clean))
    return inputs, targets, groups


def infer_groups(inputs: np.ndarray, layout: Layout) -> np.ndarray:
    """Each row's group (1–4) from its muting pattern, 0 where it matches none. inputs: (N, D)."""
    kept = np.asarray(inputs) != MUTED
    out = np.zeros(len(kept), dtype=np.int64)
    for g, m in group_masks(layout).items():
        out[(kept == m).all(axis=1) & (out == 0)] = g
    return out


def mask_from_spec(spec: str, layout: Layout) -> np.ndarray:
    """A keep-mask from ``full``, a group name (``vision_only``, ``prediction``, ``control_loop``,
    ``complete``) or ``modality:step`` pairs (``vision:both,joints:older``).

    Raises :class:`BetavaeError` when the mask keeps no column (nothing would be visible).
    """
    named = protocol_masks(layout) | {"full": layout.mask()}
    spec = spec.strip()
    if spec in named:
        keep = named[spec]
    else:
        pairs = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, step = part.partition(":")
            if name not in layout.names:
                raise BetavaeError(f"muting group {spec!r}: unknown modality {name!r}; use one of "
                                   f"{', '.join(layout.names)} or a group ({', '.join(named)})")
            pairs[name] = step or "both"
        keep = layout.mask(pairs) if pairs else np.zeros(layout.dims, dtype=bool)
    if not keep.any():
        raise BetavaeError(f"muting group {spec!r} leaves nothing visible: keep at least one "
                           "modality block, e.g. 'vision:both'")
    return keep
