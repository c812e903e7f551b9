"""The dSprites-VSA evaluator: the measures of spec/dsprites-vsa.md §7 of a finished run
(``after``) and, with ``train.eval_every``, of a run being trained (``during``: the Good and
collapse rules' measures, :mod:`betavae.vsa.during`).

Options are the evaluation settings of :class:`~betavae.vsa.settings.EvalSettings` (``n_items``,
``probe_images``, ``recombination``, the Good/Bad thresholds, ``classifier.*``), given as a sweep's
``evaluate:`` keys or ``bvae eval RUN -s key=value``. The image metrics' options (``metrics``,
``preset``, ``sizes``, ``seed``) do not apply to vsa runs and are refused when given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from betavae.errors import BetavaeError
from betavae.experiments.evaluators import IMAGE_OPTIONS, RunEvaluator, run_evaluator


def settings_of(options: dict[str, Any]) -> Any:
    """The validated evaluation settings in ``options`` (the image metrics' keys left out)."""
    from betavae.vsa.settings import eval_settings

    return eval_settings({k: v for k, v in options.items() if k not in IMAGE_OPTIONS}, prefix="")


@run_evaluator("vsa")
class VSAEvaluator(RunEvaluator):
    def check(self, options: dict[str, Any]) -> None:
        given = sorted(k for k in options if k in IMAGE_OPTIONS)
        if given:
            raise BetavaeError(f"{', '.join(given)}: options of the image metrics; a vsa run is measured with "
                               "the settings of docs/vsa.md (n_items, probe_images, recombination, the Good/Bad "
                               "thresholds, classifier.*)")
        settings_of(options)

    def during(self, model: torch.nn.Module, task: Any, train_config: Any) -> dict[str, Any]:
        """``eval.vsa.*`` of the member being trained (:func:`betavae.vsa.during.measure`)."""
        from betavae.vsa.during import measure

        return measure(model, task.config)

    def after(self, run_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
        from betavae.vsa.evaluate import evaluate_run

        return evaluate_run(run_dir, settings_of(options))
