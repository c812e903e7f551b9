"""The image VAEs' evaluator: the disentanglement metrics (betavae.metrics) on their data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from betavae.errors import BetavaeError
from betavae.experiments.evaluate import evaluate_model, evaluate_run
from betavae.experiments.evaluators import IMAGE_OPTIONS, RunEvaluator, run_evaluator
from betavae.metrics.suite import check_metric_names


@run_evaluator("image")
class ImageEvaluator(RunEvaluator):
    def check(self, options: dict[str, Any]) -> None:
        unknown = [k for k in options if k not in IMAGE_OPTIONS]
        if unknown:
            raise BetavaeError(f"unknown key(s) {', '.join(unknown)} for the image metrics; "
                               f"allowed keys: {', '.join(IMAGE_OPTIONS)}")
        if "metrics" in options:  # unset: the sweep's default, ["mig"]
            check_metric_names(options["metrics"] or [])

    def during(self, model: torch.nn.Module, task: Any, train_config: Any) -> dict[str, float]:
        return evaluate_model(model, task.source, train_config, task.device)

    def after(self, run_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
        return evaluate_run(run_dir, options.get("metrics"), options.get("preset", "default"),
                            options.get("seed", 0), sizes=options.get("sizes"),
                            breakdown=bool(options.get("breakdown", False)))
