"""What users of the original recordings need (issue #23): the SME mask ablation after training,
saved weights used as Zambelli et al. used them (``bvae multimodal use``), real-data runs that do
not carry the simulator's settings, no empty folders after a failed command, and progress lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from betavae.cli import main
from betavae.config import load_config
from betavae.data.sensorimotor_layout import Layout, Modality, reference_layout
from betavae.errors import BetavaeError
from betavae.experiments.run import train
from betavae.multimodal.measures import integration_measures, measure_masks
from betavae.shipped import shipped_path

TINY = ["data.simulator.n_train=300", "data.simulator.n_test=200", "data.seed=1", "train.batch_size=200",
        "train.lr=1e-3", "train.device=cpu", "train.threads=1", "train.checkpoint_every=1",
        "model.measures.n_points=64", "model.measures.rollout_steps=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A shipped multimodal config trained 3 epochs on the tiny simulated set."""
    return train(load_config(shipped_path("multimodal_zambelli"), [*TINY, "train.epochs=3"]),
                 tmp_path_factory.mktemp("runs"))


# ---------------------------------------------------------------- the SME mask ablation (spec §6)

def test_both_keeps_twice_the_columns_of_older():
    lay = reference_layout()
    older, both = measure_masks(lay, "older"), measure_masks(lay, "both")
    for name in lay.names:
        assert both[f"sme.{name}"].sum() == 2 * older[f"sme.{name}"].sum() == lay.modality(name).dims
        assert (both[f"sme.{name}"] == lay.mask({name: "both"})).all()
        assert (older[f"sme.{name}"] == lay.mask({name: "older"})).all()


def test_a_mask_that_removes_nothing_gives_zero():
    """One modality: keeping both of its steps mutes nothing, so SME is KL(p‖p) = 0 exactly;
    keeping only the older step mutes the newer one and gives a positive value."""
    lay = Layout((Modality("joints", 2, (4,), (4,)),))
    w = np.random.default_rng(0).normal(size=(4, 4))

    def reconstruct(x):
        return np.tanh(x @ w), 0.1 * x @ w - 1.0

    x = np.random.default_rng(1).uniform(-1, 1, size=(32, 4))
    both = integration_measures(reconstruct, x, lay, sme_keep="both")
    assert both["sme_mod.joints"] == 0.0 and both["sme_all.joints"] == 0.0
    assert integration_measures(reconstruct, x, lay, sme_keep="older")["sme_all.joints"] > 0


def test_sme_keep_is_an_evaluator_option_recorded_in_eval_json(tiny_run, capsys):
    from betavae.experiments.evaluators import evaluator_for
    from betavae.experiments.load import load_run
    from betavae.multimodal.scoring import measure

    ev = evaluator_for("sensorimotor")
    default = ev.after(tiny_run, {"metrics": ["sme_mod", "sme_all"]})
    assert default["settings"]["sme_keep"] == "older" and default["settings"]["sme_keep_also"] == []
    run = load_run(tiny_run)
    both = measure(run.model, run.source, run.config.model.measures.model_copy(update={"sme_keep": "both"}),
                   ["sme_mod", "sme_all"])
    assert main(["eval", str(tiny_run), "-o", "sme_keep=both", "--metrics", "sme_mod,sme_all"]) == 0
    saved = json.loads((tiny_run / "eval.json").read_text())
    assert saved["settings"]["sme_keep"] == "both"
    assert saved["values"] == {k: float(v) for k, v in both.items()}
    assert saved["values"]["sme_all.vision"] != default["values"]["sme_all.vision"]
    assert main(["eval", str(tiny_run), "-o", "sme_keep=[older, both]", "--metrics", "sme_mod,sme_all"]) == 0
    saved = json.loads((tiny_run / "eval.json").read_text())
    assert saved["settings"]["sme_keep"] == "older" and saved["settings"]["sme_keep_also"] == ["both"]
    for name in reference_layout().names:
        for kind in ("sme_mod", "sme_all"):
            assert saved["values"][f"{kind}.{name}"] == default["values"][f"{kind}.{name}"]
            assert saved["values"][f"{kind}_both.{name}"] == float(both[f"{kind}.{name}"])
    capsys.readouterr()
    for bad, message in (("sme_keep=all", "sme_keep: 'all'"), ("sme_keep=[both, both]", "a list of different"),
                         ("sme_kep=both", "sme_kep: not an option")):
        assert main(["eval", str(tiny_run), "-o", bad]) == 2
        assert message in capsys.readouterr().err
