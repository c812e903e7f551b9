"""Tiny vsa run configs: a 16-dim latent, a few steps; tiny evaluation settings, a small cached classifier."""

from __future__ import annotations

import pytest

from betavae.config import build_config
from betavae.vsa.settings import eval_settings
from betavae.vsa.study import STAGE_DATA

TINY_EVAL = eval_settings({"n_items": 16, "batch_size": 16, "probe_images": 40, "recombination": 8,
                           "classifier": {"steps": 3, "batch_size": 8, "n_test": 20}})


def tiny_tree(stage: str = "pd", **train) -> dict:
    t = {"steps": 3, "batch_size": 4, "log_every": 1, "checkpoint_every": 1, "lr": 1e-3, "device": "cpu",
         "threads": 1, "speed": "plain", "report": False}
    t.update(train)
    return {"name": "tiny", "data": {"kind": STAGE_DATA[stage]},
            "model": {"kind": "feature_vae", "latent_dim": 16, "hidden": 32}, "objective": {"kind": "vsa"}, "train": t}


TINY_OVERRIDES = ["model.latent_dim=16", "model.hidden=32", "train.device=cpu", "train.threads=1",
                  "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=1"]
TINY_EVAL_OVERRIDES = ["n_items=8", "batch_size=8", "probe_images=0", "recombination=4",
                       "classifier.steps=3", "classifier.batch_size=8", "classifier.n_test=20"]


@pytest.fixture
def tiny():
    return lambda stage="pd", **train: build_config(tiny_tree(stage, **train))
