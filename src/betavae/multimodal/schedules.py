"""KL-weight schedules for multimodal studies, from the shared schedule library.

The study names of Langer et al. (2024) map to :class:`betavae.schedules.KLWeight` variants
(spec §5a); every breakpoint (1000, 80, 70,000 of 80,000 epochs) is multiplied by the time scale,
which defaults to epochs/80,000 so that short runs keep each schedule's shape. The dynamic
cycle's period is floored at ``min_period`` (8) epochs: scaled below that it degenerates (at
period 1 every epoch starts a cycle at β = 1, and ``dyn_plateau1`` equals ``const1``). So runs
shorter than 8,000 epochs have fewer, longer cycles than the original's 875. A study sweep may
grid over any other schedule of the catalogue on ``objective.alpha``.
"""

from __future__ import annotations

from betavae.errors import BetavaeError
from betavae.schedules import SCHEDULES, KLWeight, schedule_from_dict

STUDY_SCHEDULES = {
    "const1": "constant_1",
    "const0": "constant_0",
    "dyn_plateau0": "dyn_plateau_0",
    "dyn_plateau1": "dyn_plateau_1",
}
FULL_EPOCHS = 80_000
MIN_PERIOD = 8


def study_schedule(name: str, epochs: int, time_scale: float | None = None, min_period: int = MIN_PERIOD) -> KLWeight:
    """The schedule ``name`` (const1, const0, dyn_plateau0, dyn_plateau1) for a run of ``epochs``."""
    if name not in STUDY_SCHEDULES:
        raise BetavaeError(
            f"unknown schedule {name!r}; study schedules: {', '.join(STUDY_SCHEDULES)}, or a mapping "
            f"with 'kind' (one of {', '.join(SCHEDULES.names())})"
        )
    s = epochs / FULL_EPOCHS if time_scale is None else time_scale
    if s <= 0:
        raise BetavaeError(f"time scale must be positive, got {s}")
    e_dyn = min(epochs, max(1, round(70_000 * s)))
    return schedule_from_dict({
        "kind": "kl_weight", "variant": STUDY_SCHEDULES[name], "epochs": epochs,
        "decay_epochs": max(1, round(1000 * s)), "period": max(min_period, round(80 * s)), "e_dyn": e_dyn,
    })
