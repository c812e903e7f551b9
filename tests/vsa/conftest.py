"""Tiny vsa run configs: a 16-dim latent, a few steps; tiny evaluation settings, a small cached classifier."""

from __future__ import annotations

import pytest

from betavae.config import build_config, read_yaml
from betavae.experiments.sweep import sweep_from_dict
from betavae.shipped import shipped_path
from betavae.vsa.settings import eval_settings
from betavae.vsa.study import STAGE_DATA

from ..conftest import run_shared_sweep

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


TINY_EVAL_OPTIONS = {"n_items": 8, "batch_size": 8, "probe_images": 0, "recombination": 4,
                     "classifier": {"steps": 3, "batch_size": 8, "n_test": 20}}
TINY_SET = {"train.steps": 2, "train.batch_size": 4, "train.log_every": 1, "train.checkpoint_every": 1,
            "model.latent_dim": 16, "model.hidden": 32}


def tiny_grid(names=("vsa-row14", "vsa-row16"), seeds=(0, 1)):
    """The shipped grid cut to ``names`` × ``seeds``, tiny models, 2 steps, a tiny evaluation."""
    tree = read_yaml(shipped_path("sweep_vsa_grid"))
    tree["grid"] = [b for b in tree["grid"] if b["name"] in names]
    tree["zip"] = [{"seed": list(seeds), "data.seed": list(seeds)}]
    tree["set"].update(TINY_SET)
    tree["evaluate"] = TINY_EVAL_OPTIONS
    return sweep_from_dict(tree, source="tiny vsa grid")


@pytest.fixture(scope="session")
def tiny_grid_run(tmp_path_factory):
    """The tiny grid (rows 14 and 16, seeds 0 and 1), shared by the sweep test and the browser
    test (≈ 12 s on 2 cores; see :func:`tests.conftest.run_shared_sweep`)."""
    return run_shared_sweep(tmp_path_factory, tiny_grid(), "vsa-grid")
