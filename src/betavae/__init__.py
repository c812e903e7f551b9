"""betavae: β-VAE representation learning (objectives, schedules, dSprites, metrics, reports).

Scoring any representation (docs/metrics.md, "Evaluate your own model"):

* :func:`evaluate` (``betavae.metrics.evaluate``): the array metrics on ``codes (N, D)`` and
  ``factors (N, K)``, with ``metrics=``, ``preset=``, ``bootstrap=``.
* :func:`evaluate_encoder` (``betavae.experiments.evaluate.evaluate_encoder``): any callable
  from observations to codes on any built-in ground-truth data set, sampled scores included.

Loading a trained run of any system: :func:`load_run` (``betavae.experiments.load.load_run``)
gives its config, its model with the saved weights and ``encode``/``decode``/``predict``.

The model zoo (trained models shipped in the package, docs/zoo.md): ``betavae.zoo.load(NAME)``.

All are imported on first use, so ``import betavae`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "evaluate": ("betavae.metrics.suite", "evaluate"),
    "evaluate_encoder": ("betavae.experiments.evaluate", "evaluate_encoder"),
    "load_run": ("betavae.experiments.load", "load_run"),
}

__all__ = ["__version__", "evaluate", "evaluate_encoder", "load_run", "zoo"]


def __getattr__(name: str) -> Any:
    if name == "zoo":
        import importlib

        return importlib.import_module("betavae.zoo")
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'betavae' has no attribute {name!r}")
