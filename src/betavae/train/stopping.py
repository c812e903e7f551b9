"""Early stopping: the named conditions of ``train.stop_when`` (issue #23).

A condition is read from a member's metrics row right after a periodic evaluation
(``train.eval_every``): it is met when the row holds ``True`` under its ``flag``, a key the run's
evaluator writes (:mod:`betavae.experiments.evaluators`). What a flag means is the evaluator's
business (e.g. the vsa evaluator's ``eval.vsa.good`` is spec/dsprites-vsa.md §6's Good rule); the
loop only reads it. When a condition is met the loop writes its final checkpoint at that step and
ends; the step and the condition's name are kept as ``stopped: {step, reason}`` in the checkpoint
(so a resumed run trains no further) and in the run's ``meta.json``.

This module imports nothing of the project, so the config can validate names against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StopCondition:
    """One named condition: met when a metrics row has ``row[flag] is True``; usable by runs
    whose training task (``ModelConfig.task``) is in ``tasks``."""

    name: str
    flag: str
    tasks: tuple[str, ...]
    meaning: str


STOP_CONDITIONS: dict[str, StopCondition] = {c.name: c for c in (
    StopCondition("vsa_good", "eval.vsa.good", ("vsa",),
                  "the run meets the Good rule of spec/dsprites-vsa.md §6, judged with a trusted classifier"),
    StopCondition("collapse", "eval.vsa.collapsed", ("vsa",),
                  "the decoder draws empty images from a code that carries almost nothing (docs/vsa.md, "
                  "\"The decisive study\")"),
)}


def check_names(names: Sequence[str]) -> None:
    """Raise ``ValueError`` (the config's validation error) for unknown or repeated names."""
    unknown = [n for n in names if n not in STOP_CONDITIONS]
    if unknown:
        raise ValueError(f"unknown stop condition {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(STOP_CONDITIONS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"each stop condition at most once, got {list(names)}")


def check_task(names: Sequence[str], task: str) -> None:
    """Raise ``ValueError`` when a condition cannot be met by runs of training task ``task``."""
    wrong = [n for n in names if task not in STOP_CONDITIONS[n].tasks]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: a stop condition of {', '.join(STOP_CONDITIONS[wrong[0]].tasks)} "
                         f"runs, not of {task} runs")


def stop_reason(names: Sequence[str], row: dict[str, Any]) -> str | None:
    """The first of ``names`` whose flag is ``True`` in ``row`` (a metrics row), or None."""
    return next((n for n in names if row.get(STOP_CONDITIONS[n].flag) is True), None)
