"""Settings of a multimodal study's training and measures (pydantic, frozen, unknown keys forbidden).

Defaults follow spec/multimodal.md: §5 (Adam 5e-5, batch 1000, 80,000 epochs, float64), §4
(``nll_constant``) and §6 (the reconstructed measure choices, every one a parameter; their values
are written to each study's metadata). A study turns :class:`TrainSettings` into one run config
per seed (:func:`betavae.multimodal.study.run_configs`), which the one loop trains.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

from betavae.bounds import Seed
from betavae.config import Strict
from betavae.data.sensorimotor import Sensorimotor

Precision = Literal["float64", "float32", "bf16"]


class TrainSettings(Strict):
    """Optimisation (Zambelli et al. 2020 reference config ``param_id=1``): ``n_z`` and
    ``precision`` become the model config, ``nll_constant`` the objective's, the rest ``train``.

    ``precision``: ``float64`` (the reference), ``float32``, or ``bf16`` (float32 weights and
    loss, bfloat16 autocast of the matmuls; see docs/multimodal.md for its effect on measures).
    """

    epochs: PositiveInt = 80_000
    batch_size: PositiveInt = 1000
    lr: PositiveFloat = 5e-5
    n_z: PositiveInt = 28
    precision: Precision = "float64"
    nll_constant: Literal["reference", "exact", "none"] = "reference"
    eval_every: PositiveInt = 100
    threads: PositiveInt | None = None
    device: str = "cpu"  # cpu, cuda or auto


class MeasureSettings(Strict):
    """The reconstructed choices of Langer et al. (2024) (spec §6), defaults in the spec's bold."""

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


def eval_points(data: Sensorimotor, settings: MeasureSettings) -> np.ndarray:
    """The clean points (N, D) the measures average over (N = n_points or fewer if the set is
    smaller): seeded draw without replacement from the test set by default."""
    pool = data.train_clean if settings.eval_set == "train_clean" else data.test
    n = min(settings.n_points, len(pool))
    if settings.eval_set == "test_first1024":
        return pool[:n]
    idx = np.random.default_rng(settings.eval_seed).choice(len(pool), n, replace=False)
    return pool[np.sort(idx)]
