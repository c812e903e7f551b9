"""The interface every experiment tracker implements, and what they share (rows -> scalars, config -> params).

A tracker mirrors one run folder into an outside tool. :class:`~betavae.experiments.trackers.RunTrackers`
drives it: ``start`` once per training session, ``log`` for each metrics row (at once for a ``live``
tracker, else when a checkpoint covers the row), ``flush`` when a checkpoint is written, ``images``
with the report's figures after a finished run, ``close`` at the end of the session.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, ClassVar

from betavae.errors import BetavaeError
from betavae.experiments.lock import LOCK_FILE

#: keys of a metrics row that are not logged as scalars: the step is the tracker's step, the
#: time its wall-clock time where the tracker takes one
NOT_SCALARS = ("step", "time")


class Tracker:
    """One tracker of one run folder.

    ``live`` trackers can discard what they logged past a step when a run resumes from a
    checkpoint (TensorBoard's purge), so they get each row as it is written; the others get a
    row only once a checkpoint covers it, so a resumed run never logs a step twice.
    """

    name: ClassVar[str]
    #: the module to import, the pip package and the betavae extra that installs it
    module: ClassVar[str]
    package: ClassVar[str]
    extra: ClassVar[str]
    live: ClassVar[bool] = False
    #: whether :meth:`flush` makes what was logged durable (else only :meth:`close` does: a
    #: killed session's rows are sent again by the next one, which :meth:`start` is told of)
    flushes: ClassVar[bool] = True

    @classmethod
    def require(cls) -> None:
        """Import the tracker's package, or raise the one-line install hint."""
        try:
            importlib.import_module(cls.module)
        except ImportError:
            raise BetavaeError(
                f"train.trackers: {cls.name} needs the {cls.package} package; "
                f"install it with `pip install 'betavae[{cls.extra}]'`"
            ) from None

    def start(self, run_dir: Path, config: dict[str, Any], state: dict[str, Any], resume_from: int,
              unclosed: bool) -> dict[str, Any]:
        """Open (``state`` empty) or continue (``state`` as this method returned it last session)
        the tracker's run of ``run_dir``. Rows of steps ``>= resume_from`` this tracker may already
        hold are out of date; ``unclosed``: the last session was killed before :meth:`close`.
        Returns what :meth:`start` needs to continue it (JSON)."""
        raise NotImplementedError

    def log(self, step: int, scalars: dict[str, float], wall_time: float | None) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Make what was logged durable (called at every checkpoint)."""

    def images(self, step: int, paths: list[Path], root: Path) -> None:
        """Log the figures ``paths`` (PNG/GIF under ``root``, named by their path below it)."""
        raise NotImplementedError

    def close(self, status: str) -> None:
        """End the session (``status``: finished, interrupted or failed)."""
        raise NotImplementedError


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """Every number of a metrics row but step and time; lists (``kl_per_dim``) become ``name/j``."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if key in NOT_SCALARS:
            continue
        if isinstance(value, (list, tuple)):
            for j, v in enumerate(value):
                if _number(v):
                    out[f"{key}/{j}"] = float(v)
        elif _number(value):
            out[key] = float(value)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def flat_params(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``; lists and None stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flat_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def sweep_name(run_dir: Path) -> str | None:
    """The sweep a run folder belongs to (its folder holds a sweep's lock file), else None."""
    return run_dir.parent.name if (run_dir.parent / LOCK_FILE).exists() else None

