"""Save matplotlib figures atomically and close them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from betavae.io import atomic_write


def save_figure(fig: Any, out: str | Path, **kwargs: Any) -> Path:
    """Write ``fig`` to ``out`` (format from the suffix) via temp file + rename; closes the figure."""
    import matplotlib.pyplot as plt

    out = Path(out)
    fmt = out.suffix.lstrip(".") or "png"
    try:
        atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt, **kwargs))
    finally:
        plt.close(fig)
    return out
