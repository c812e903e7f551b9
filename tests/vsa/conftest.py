"""Tiny vsa settings: a 16-dim latent, a few steps, a small cached classifier."""

from __future__ import annotations

import pytest

from betavae.vsa.settings import build_vsa_config

TINY_EVAL = {"n_items": 16, "batch_size": 16, "probe_images": 40, "recombination": 8,
             "classifier": {"steps": 3, "batch_size": 8, "n_test": 20}}


def tiny_tree(stage: str = "pd", **train) -> dict:
    t = {"steps": 3, "batch_size": 4, "log_every": 1, "lr": 1e-3, "device": "cpu", "threads": 1}
    t.update(train)
    return {"stage": stage, "model": {"latent_dim": 16, "hidden": 32}, "train": t, "eval": TINY_EVAL}


TINY_OVERRIDES = ["model.latent_dim=16", "model.hidden=32", "train.device=cpu", "train.threads=1",
                  "train.batch_size=4", "train.log_every=1", "eval.n_items=8", "eval.batch_size=8",
                  "eval.probe_images=0", "eval.recombination=4", "eval.classifier.steps=3",
                  "eval.classifier.batch_size=8", "eval.classifier.n_test=20"]


@pytest.fixture
def tiny():
    return lambda stage="pd", **train: build_vsa_config(tiny_tree(stage, **train))
