"""The one cache directory (rendered data sets, features, synthesised speech).

Resolution order: an explicit path (CLI ``--cache-dir``), the ``BETAVAE_CACHE_DIR`` environment
variable, then ``$XDG_CACHE_HOME/betavae`` (default ``~/.cache/betavae``). Entries are keyed by
everything that determines their content and written atomically (see :mod:`betavae.io`).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "BETAVAE_CACHE_DIR"
_override: Path | None = None


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Override the cache directory for this process (the CLI's ``--cache-dir``)."""
    global _override
    _override = Path(path) if path is not None else None


def cache_dir() -> Path:
    """The cache directory, created on first use."""
    if _override is not None:
        root = _override
    elif os.environ.get(ENV_VAR):
        root = Path(os.environ[ENV_VAR])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(xdg) / "betavae"
    root.mkdir(parents=True, exist_ok=True)
    return root
