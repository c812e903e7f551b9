"""Shared fixtures: tiny, fast run configs on the built-in dSprites."""

from __future__ import annotations

import pytest

from betavae.config import build_config


def tiny_tree(**train) -> dict:
    """A config that trains the Burgess model a few steps at batch 8 (≈0.05 s/step on 2 cores)."""
    t = {"steps": 12, "batch_size": 8, "log_every": 2, "checkpoint_every": 4, "lr": 1e-3,
         "prefetch": 1, "threads": 1, "report": False,
         "speed": "plain"}
    t.update(train)
    return {"name": "tiny", "seed": 3, "model": {"kind": "burgess", "latent_dim": 4},
            "objective": {"kind": "beta", "beta": 4}, "train": t}


@pytest.fixture
def tiny_config():
    return build_config(tiny_tree())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test uses a private cache directory (never the user's)."""
    monkeypatch.setenv("BETAVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
