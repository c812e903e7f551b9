"""KL-weight schedules for multimodal studies, from the shared schedule library.

The study names of Langer et al. (2024) map to :class:`betavae.schedules.KLWeight` variants
(spec §5a); every breakpoint (1000, 80, 70,000 of 80,000 epochs) is multiplied by the time scale,
which defaults to epochs/80,000 so that short runs keep each schedule's shape. The dynamic
cycle's period is floored at ``min_period`` (8) epochs: scaled below that it degenerates (at
period 1 every epoch starts a cycle at β = 1, and ``dyn_plateau1`` equals ``const1``). So runs
shorter than 8,000 epochs have fewer, longer cycles than the original's 875. Any other
registered schedule is given as a JSON/YAML mapping with ``kind``.
"""

from __future__ import annotations

import yaml

from betavae.errors import BetavaeError
from betavae.schedules import SCHEDULES, KLWeight, Schedule, schedule_from_dict

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


def resolve_schedule(spec: str, epochs: int, time_scale: float | None = None,
                     min_period: int = MIN_PERIOD) -> tuple[str, Schedule]:
    """(label, schedule) from a study name or an inline mapping such as
    ``{kind: linear, length: 500}``; bad input raises one readable :class:`BetavaeError`."""
    spec = spec.strip()
    if spec.startswith("{"):
        try:
            tree = yaml.safe_load(spec)
        except yaml.YAMLError as exc:
            raise BetavaeError(f"schedule {spec!r} is not a valid mapping: {exc.problem}") from None
        if not isinstance(tree, dict) or "kind" not in tree:
            raise BetavaeError(f"schedule {spec!r} needs a 'kind' ({', '.join(SCHEDULES.names())})")
        if tree["kind"] not in SCHEDULES:
            raise BetavaeError(f"unknown schedule kind {tree['kind']!r}; known: {', '.join(SCHEDULES.names())}")
        label = tree.pop("name", None) or "_".join(f"{v}" for v in tree.values())
        return str(label), schedule_from_dict(tree)
    return spec, study_schedule(spec, epochs, time_scale, min_period)


def split_schedules(text: str) -> list[str]:
    """Split ``a,b,{kind: x, y: 1}`` on the commas outside braces."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]
