"""Plot of a schedule's values over a counter range."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from betavae.schedules import Schedule


def plot_schedule(schedule: Schedule, steps: int, out: str | Path, title: str | None = None) -> Path:
    """Draw ``schedule.values(arange(steps))`` to a PNG at ``out`` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from betavae.viz.save import save_figure

    t = np.arange(steps)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.plot(t, schedule.values(t), lw=1.5)
    ax.set_xlabel(schedule.unit)
    ax.set_ylabel("capacity C (nats)" if schedule.kind == "capacity" else "value (β)")
    params = {k: v for k, v in schedule.model_dump(by_alias=True).items() if k not in ("kind", "unit")}
    ax.set_title(title or f"{schedule.kind} {params}", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out)
