"""Evaluation settings of dSprites-VSA (spec/dsprites-vsa.md §7; pydantic, frozen, unknown keys
forbidden). A run's own settings are its run config (``config.yaml``); these choose how the vsa
evaluator (``bvae eval RUN -s key=value``, a sweep's ``evaluate:``) measures it and where the
Good/Bad thresholds lie.
"""

from __future__ import annotations

import copy
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, ValidationError

from betavae.bounds import Probability, Seed
from betavae.config import Strict, describe_errors, parse_override, set_dotted
from betavae.errors import BetavaeError


class ClassifierSettings(Strict):
    """The factor classifier of spec §7.2 (cached under a hash of these and the renderer).

    ``schedule``: ``constant`` (``lr`` throughout) or ``onecycle`` (PyTorch's OneCycleLR with
    peak ``lr``, annealed to lr/25e4 at ``steps``). The length is what brings every head to the
    spec's 0.98 on held-out images: 4,000 constant steps (the default before issue #23) leave
    scale at 0.962, 5,000 reach 0.984 and 8,000 give a lowest head of 0.9945 (one-cycle, 8,000:
    0.991); ``bench/bench_vsa_classifier.py``, docs/vsa.md "Evaluation".
    """

    steps: PositiveInt = 8000
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-3
    schedule: Literal["constant", "onecycle"] = "constant"
    seed: Seed = 0
    n_test: PositiveInt = 2000


class EvalSettings(Strict):
    n_items: PositiveInt = 512
    batch_size: PositiveInt = 128
    a_min: PositiveInt = 4
    probe_images: int = Field(2000, ge=0)  # slot probe (0 = off); the spec uses 10,000
    recombination: int = Field(256, ge=0)  # targets assembled from other images (0 = off)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    pd_iou: Probability = 0.8
    pd_swap: Probability = 0.8
    psd_iou: Probability = 0.8
    psd_count: Probability = 0.9
    psd_swap: Probability = 0.7
    #: the collapse rule (betavae.vsa.study.is_collapsed; docs/vsa.md "The decisive study")
    collapse_iou: Probability = 0.01
    collapse_empty: Probability = 0.99
    collapse_kl: float = Field(1.0, ge=0)


def eval_settings(tree: dict | None = None, overrides: list[str] | tuple[str, ...] = (),
                  prefix: str = "eval.") -> EvalSettings:
    """Validate evaluation settings after ``key=value`` overrides (keys below ``eval``, with or
    without the ``eval.`` prefix); one-line :class:`BetavaeError` on a problem, naming keys with
    ``prefix``."""
    tree = copy.deepcopy(tree or {})
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(tree, key.removeprefix("eval."), value)
    try:
        return EvalSettings.model_validate(tree)
    except ValidationError as exc:
        raise BetavaeError(f"vsa evaluation settings: {describe_errors(exc, tree, EvalSettings, prefix)}") from None
