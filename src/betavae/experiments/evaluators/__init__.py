"""How each system's runs are scored: during training and after it (issue #19: one spine).

An evaluator is registered per training task (``config.model.task``) with
``@run_evaluator("task")``. It has two jobs:

- ``during(model, task, train_config) -> {"eval.<name>": value}``: scores of member ``model`` while
  it trains (``train.eval_every``), merged into its rows of ``metrics.jsonl``; it must not touch
  the training's random state (own seeded generators) and must leave the model in train mode;
  with ``at_start = True`` the initial model is scored too, in a row of its own at step 0;
- ``after(run_dir, options) -> dict``: score a finished run folder and write its ``eval.json``
  (what ``bvae eval`` and a sweep's ``evaluate`` do); ``options`` is the sweep file's
  ``evaluate`` mapping (the image metrics' ``metrics``, ``preset``, ``seed``, ``sizes``, and any
  other key an evaluator reads) or what ``bvae eval RUN -s key=value`` gives. ``eval.json`` holds
  ``values``, a flat mapping of names to numbers (what ``bvae ls``, the sweep's aggregate and the
  index read), beside whatever else the evaluator records.

``check(options)`` refuses options the evaluator cannot honour before anything runs (it sees only
the keys a sweep file or command line gave). Every module of this package is imported on first
use, so a system adds its evaluator by adding a module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from betavae.errors import BetavaeError
from betavae.registry import import_modules

#: the image metrics' options (sweep ``evaluate:`` keys with defaults; see EvaluateOptions)
IMAGE_OPTIONS = ("metrics", "preset", "sizes", "seed", "breakdown")


class RunEvaluator:
    """Base of the evaluators; a task without one cannot be evaluated (a clear error says so)."""

    task = "?"
    #: also score the untrained model (a metrics row at step 0, epoch 0) when train.eval_every is set
    at_start = False

    def check(self, options: dict[str, Any]) -> None:
        """Raise :class:`BetavaeError` for options this evaluator cannot honour."""

    def during(self, model: torch.nn.Module, task: Any, train_config: Any) -> dict[str, float]:
        raise BetavaeError(f"runs of the {self.task} task have no scores during training")

    def after(self, run_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
        raise BetavaeError(f"runs of the {self.task} task have no evaluation after training")


_EVALUATORS: dict[str, RunEvaluator] = {}


def run_evaluator(task: str):
    """Class decorator: register an instance of the class as the evaluator of ``task``'s runs."""
    def register(cls: type[RunEvaluator]) -> type[RunEvaluator]:
        if task in _EVALUATORS:
            raise ValueError(f"an evaluator for task {task!r} is registered twice")
        instance = cls()
        instance.task = task
        _EVALUATORS[task] = instance
        return cls

    return register


def evaluator_for(task: str) -> RunEvaluator:
    """The evaluator of ``task``'s runs (the base one, which refuses, if none is registered)."""
    import_modules("betavae.experiments.evaluators")
    found = _EVALUATORS.get(task)
    if found is None:
        found = RunEvaluator()
        found.task = task
    return found


def options_of(settings: Sequence[str] = (), metrics: list[str] | None = None) -> dict[str, Any]:
    """An evaluator's options from ``key=value`` settings (dotted keys nest) and metric names."""
    from betavae.config import parse_override, set_dotted

    options: dict[str, Any] = {"metrics": metrics} if metrics else {}
    for text in settings:
        set_dotted(options, *parse_override(text))
    return options


def evaluate_with(run_dir: Path, task: str, settings: Sequence[str] = (), metrics: list[str] | None = None
                  ) -> dict[str, Any]:
    """Score ``run_dir`` with ``task``'s evaluator, ``key=value`` ``settings`` (``bvae eval -s``)
    and ``metrics`` names (``--metrics``); the evaluator writes the run's ``eval.json``."""
    options = options_of(settings, metrics)
    evaluator = evaluator_for(task)
    evaluator.check(options)
    return evaluator.after(run_dir, options)
