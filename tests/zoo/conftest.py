"""A tiny zoo in a temporary folder: one 8-step run (with two eval rows) added by ``add_model``."""

from __future__ import annotations

import pytest

from betavae.config import build_config
from betavae.experiments.run import train
from betavae.zoo.add import add_model

from ..conftest import tiny_tree

#: small evaluation sizes for the card's full evaluation (the check values use fixed sizes)
SIZES = {"num_train": 1000, "num_test": 500, "sampled_train": 40, "sampled_eval": 20, "sampled_batch": 8,
         "num_variance_estimate": 500}
#: a note that would run script if the HTML card did not escape it
HOSTILE_NOTE = "<script>window.pwned=1</script> a tiny test model"


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory):
    """(zoo root, model name, run folder) of a zoo holding one tiny model ``tiny-beta``."""
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETAVAE_CACHE_DIR", str(base / "cache"))
        config = build_config(tiny_tree(steps=8, checkpoint_every=4, eval_every=4, eval_metrics=["mig"]))
        run_dir = train(config, tmp_path_factory.mktemp("runs"))
        root = tmp_path_factory.mktemp("zoo")
        add_model(run_dir, "tiny-beta", HOSTILE_NOTE, root, preset="fast", bootstrap=3, sizes=SIZES)
        yield root, "tiny-beta", run_dir
