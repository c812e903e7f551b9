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


#: a shipped multimodal config trained 6 epochs on a tiny simulated set, scored during training
MM_OVERRIDES = ["data.simulator.n_train=300", "data.simulator.n_test=200", "data.seed=1", "train.batch_size=200",
                "train.lr=1e-3", "train.device=cpu", "train.threads=1", "train.checkpoint_every=2", "train.epochs=6",
                "train.eval_every=2", "train.eval_metrics=[sme_mod,lop_mod,baseline_all,prediction_error]",
                "model.measures.n_points=64", "model.measures.rollout_steps=2", "objective.alpha.variant=constant_0",
                "objective.alpha.epochs=6", "objective.alpha.decay_epochs=2", "objective.alpha.e_dyn=6"]
#: the shipped vsa config at a 16-dim latent, 6 steps at batch 4
VSA_OVERRIDES = ["model.latent_dim=16", "model.hidden=32", "train.device=cpu", "train.threads=1",
                 "train.batch_size=4", "train.log_every=1", "train.checkpoint_every=1", "train.steps=6",
                 "train.report=false"]
#: tiny vsa evaluation settings (`bvae zoo add -s ...`): a 3-step classifier, 8 items
VSA_EVAL = ["n_items=8", "batch_size=8", "probe_images=0", "recombination=4", "classifier.steps=3",
            "classifier.batch_size=8", "classifier.n_test=20"]


@pytest.fixture(scope="session")
def systems_zoo(tiny_zoo, tmp_path_factory):
    """(zoo root, {task: (model name, run folder)}) of a zoo holding tiny-beta (copied from
    ``tiny_zoo``), a tiny multimodal model ``tiny-mm`` and a tiny vsa model ``tiny-vsa``."""
    import shutil

    from betavae.config import load_config
    from betavae.experiments.evaluators import options_of
    from betavae.shipped import shipped_path

    base = tmp_path_factory.getbasetemp()
    root = tmp_path_factory.mktemp("systems") / "zoo"
    shutil.copytree(tiny_zoo[0], root)
    runs = tmp_path_factory.mktemp("system-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETAVAE_CACHE_DIR", str(base / "cache"))
        mm = train(load_config(shipped_path("multimodal_langer"), MM_OVERRIDES), runs)
        add_model(mm, "tiny-mm", "a tiny multimodal model", root)
        vsa = train(load_config(shipped_path("vsa_paired"), VSA_OVERRIDES), runs)
        add_model(vsa, "tiny-vsa", "a tiny vsa model", root, options=options_of(VSA_EVAL))
        yield root, {"sensorimotor": ("tiny-mm", mm), "vsa": ("tiny-vsa", vsa)}
