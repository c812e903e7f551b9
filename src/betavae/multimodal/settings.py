"""How a multimodal run is measured: the reconstructed choices of Langer et al. (2024) (spec §6).

:class:`MeasureSettings` is the ``measures`` section of a ``zambelli`` model config
(``model.measures``), so every choice is in the run's resolved ``config.yaml`` (and in its
``eval.json``); the defaults are the spec's bold choices. The sensorimotor evaluator
(:mod:`betavae.experiments.evaluators.sensorimotor`) reads it during training
(``train.eval_every``) and after (``eval.json``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from betavae.bounds import Seed

if TYPE_CHECKING:
    from betavae.data.sensorimotor_rows import Sensorimotor

#: the integration measures (``train.eval_metrics`` / a sweep's ``evaluate.metrics``); each gives
#: one value per modality (``<name>.<modality>``) or one value (``baseline_all``, ``prediction_error``)
MEASURES = ("sme_mod", "sme_all", "lop_mod", "lop_all", "baseline_all", "baseline_mod", "prediction_error")
#: after training only: the five test protocols of Zambelli et al. (2020) (spec §7)
PROTOCOLS = "protocols"


class MeasureSettings(BaseModel):
    """The reconstructed choices of Langer et al. (2024) (spec §6), defaults in the spec's bold,
    and the test protocols' rollout length (spec §7). Frozen; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_points: PositiveInt = 1024
    kl_direction: Literal["full_to_muted", "muted_to_full"] = "full_to_muted"
    sme_keep: Literal["older", "newer", "both"] = "older"
    lop_mute: Literal["both", "older", "newer"] = "both"
    latent_mode: Literal["mean", "sample"] = "mean"
    samples: PositiveInt = Field(8, description="latent samples when latent_mode=sample")
    eval_set: Literal["test_seeded", "test_first1024", "train_clean"] = "test_seeded"
    eval_seed: Seed = 0
    #: the prediction-error input: full, a group (vision_only, prediction, control_loop) or
    #: modality:step pairs such as "vision:both,joints:older"
    pe_input: str = "full"
    rollout_steps: PositiveInt = 5
    inject_vision: bool = False


def eval_points(data: Sensorimotor, settings: MeasureSettings) -> np.ndarray:
    """The clean points (N, D) the measures average over (N = n_points or fewer if the set is
    smaller): seeded draw without replacement from the test set by default."""
    pool = data.train_clean if settings.eval_set == "train_clean" else data.test
    n = min(settings.n_points, len(pool))
    if settings.eval_set == "test_first1024":
        return pool[:n]
    idx = np.random.default_rng(settings.eval_seed).choice(len(pool), n, replace=False)
    return pool[np.sort(idx)]
