"""A vsa run scored while it trains, and the Good / collapse rules (issue #23)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from betavae.config import build_config
from betavae.errors import BetavaeError
from betavae.experiments.load import load_state
from betavae.experiments.run import train
from betavae.experiments.rundir import read_meta, read_metrics
from betavae.train.tasks.vsa import build_model
from betavae.vsa import during
from betavae.vsa.evaluate import empty, kl_per_image
from betavae.vsa.settings import EvalSettings
from betavae.vsa.study import is_collapsed, verdicts

from .conftest import TINY_EVAL, tiny_tree

S = EvalSettings()


def test_kl_per_image_and_empty_known_answers():
    mu, logvar = torch.zeros(3, 5, 4), torch.zeros(3, 5, 4)
    mu[1, 0, 0] = 1.0  # 0.5·μ² = 0.5 nat
    logvar[2, 4, 3] = 1.0  # 0.5·(e − 1 − 1) = 0.359 nat
    np.testing.assert_allclose(kl_per_image(mu, logvar), [0.0, 0.5, 0.5 * (np.e - 2)], rtol=1e-6)
    images = np.zeros((3, 1, 4, 4), bool)
    images[1, 0, 2, 2] = True
    assert empty(images).tolist() == [True, False, True]


@pytest.mark.parametrize(("values", "expected"), [
    ({"vsa.swap.iou": 0.0, "vsa.swap.empty": 1.0, "vsa.latent.kl": 0.2}, True),
    ({"vsa.swap.iou": 0.01, "vsa.swap.empty": 0.99, "vsa.latent.kl": 1.0}, True),  # the bounds are in
    ({"vsa.swap.iou": 0.02, "vsa.swap.empty": 1.0, "vsa.latent.kl": 0.2}, False),  # draws something
    ({"vsa.swap.iou": 0.0, "vsa.swap.empty": 0.98, "vsa.latent.kl": 0.2}, False),  # not empty enough
    ({"vsa.swap.iou": 0.0, "vsa.swap.empty": 1.0, "vsa.latent.kl": 1.5}, False),  # the code still carries
])
def test_the_collapse_rule_of_pd(values, expected):
    assert is_collapsed("pd", values, S) is expected


def test_the_collapse_rule_reads_the_scene_keys_of_psd_and_has_no_answer_for_sd():
    assert is_collapsed("psd", {"vsa.scene.iou": 0.0, "vsa.scene.empty": 1.0, "vsa.latent.kl": 0.0}, S) is True
    assert is_collapsed("psd", {"vsa.swap.iou": 0.0, "vsa.swap.empty": 1.0, "vsa.latent.kl": 0.0}, S) is None
    assert is_collapsed("sd", {"vsa.scene.iou": 0.0, "vsa.scene.empty": 1.0, "vsa.latent.kl": 0.0}, S) is None


def test_verdicts_hold_only_the_rules_that_have_an_answer():
    pd = {"vsa.swap.iou": 0.85, "vsa.swap.empty": 0.0, "vsa.latent.kl": 30.0, "vsa.swap_acc.changed": 0.8}
    assert verdicts("pd", pd, S, True) == {"vsa.good": True, "vsa.collapsed": False}
    assert verdicts("pd", pd, S, False) == {"vsa.collapsed": False}  # an untrusted classifier judges nothing
    assert verdicts("pd", {**pd, "vsa.swap_acc.changed": 0.79}, S, True)["vsa.good"] is False
    no_classifier = {k: v for k, v in pd.items() if k != "vsa.swap_acc.changed"}
    assert verdicts("pd", no_classifier, S, True) == {"vsa.collapsed": False}
    psd = {"vsa.scene.iou": 0.8, "vsa.scene.count_acc": 0.9, "vsa.swap_acc.changed": 0.7, "vsa.scene.empty": 0.0,
           "vsa.latent.kl": 9.0}
    assert verdicts("psd", psd, S, True) == {"vsa.good": True, "vsa.collapsed": False}
    assert verdicts("psd", {**psd, "vsa.scene.count_acc": 0.89}, S, True)["vsa.good"] is False


def _silent_model(stage: str):
    """A tiny model whose code is μ = 0, log σ² = 0 (KL 0) and whose decoder draws nothing."""
    model = build_model(build_config(tiny_tree(stage)))
    with torch.no_grad():
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias.zero_()
        model.decoder[-1].bias.fill_(-50.0)
    return model.train()


@pytest.mark.parametrize("stage", ["pd", "psd"])
def test_measure_of_a_silent_model_says_collapsed_and_leaves_rng_and_mode_alone(stage):
    cfg = build_config(tiny_tree(stage))
    model = _silent_model(stage)
    torch.manual_seed(11)
    before = torch.get_rng_state(), np.random.get_state()[1].copy()
    values = during.measure(model, cfg, TINY_EVAL)  # trains the tiny classifier first: seeds torch inside
    assert torch.equal(torch.get_rng_state(), before[0]) and np.array_equal(np.random.get_state()[1], before[1])
    assert model.training
    key = "swap" if stage == "pd" else "scene"
    assert values[f"eval.vsa.{key}.iou"] == 0.0 and values[f"eval.vsa.{key}.empty"] == 1.0
    assert values["eval.vsa.latent.kl"] == 0.0
    assert values["eval.vsa.collapsed"] is True
    assert values["eval.vsa.classifier.trusted"] is False  # a 3-step classifier
    assert "eval.vsa.good" not in values and "eval.vsa.swap_acc.changed" not in values
    assert values["eval.vsa.seconds"] > 0
    if stage == "psd":
        assert values["eval.vsa.scene.count_acc"] == 0.0


def test_with_a_trusted_classifier_the_good_verdict_and_swap_accuracy_are_given(monkeypatch):
    cfg = build_config(tiny_tree("pd"))
    real = during.get_classifier

    def perfect(settings, data, progress=None):
        clf, ceiling = real(settings, data)
        return clf, {k: 1.0 for k in ceiling}

    monkeypatch.setattr(during, "get_classifier", perfect)
    values = during.measure(_silent_model("pd"), cfg, TINY_EVAL)
    assert values["eval.vsa.classifier.trusted"] is True and values["eval.vsa.classifier.lowest"] == 1.0
    assert values["eval.vsa.good"] is False  # swap IoU 0 < 0.8
    assert 0.0 <= values["eval.vsa.swap_acc.changed"] <= 1.0


def test_a_vsa_run_evaluated_every_2_steps_stops_on_collapse(tmp_path, monkeypatch):
    # the rule made to fire on anything: IoU ≤ 1, empty ≥ 0, KL ≤ 1e9
    monkeypatch.setattr(during, "DURING", TINY_EVAL.model_copy(
        update={"collapse_iou": 1.0, "collapse_empty": 0.0, "collapse_kl": 1e9, "probe_images": 0, "recombination": 0}))
    cfg = build_config(tiny_tree("pd", steps=6, log_every=1, checkpoint_every=3, eval_every=2, eval_metrics=["vsa"],
                                 stop_when=["vsa_good", "collapse"]))
    run = train(cfg, tmp_path)
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[1]["eval.vsa.collapsed"] is True and "eval.vsa.swap.iou" in rows[1] and "eval.vsa.swap.iou" not in rows[0]
    assert read_meta(run)["stopped"] == {"step": 2, "reason": "collapse"} and read_meta(run)["status"] == "finished"
    assert load_state(run)["step"] == 2


def test_vsa_runs_are_scored_during_training_with_vsa_only():
    with pytest.raises(BetavaeError, match=r"scored during training with \[vsa\].*got \['mig'\]"):
        build_config(tiny_tree("pd", eval_every=1))
    assert build_config(tiny_tree("pd", eval_every=1, eval_metrics=["vsa"])).train.eval_metrics == ["vsa"]


def test_scoring_during_training_leaves_the_weights_of_a_run_without_it(tmp_path, monkeypatch):
    monkeypatch.setattr(during, "DURING", TINY_EVAL.model_copy(update={"probe_images": 0, "recombination": 0}))
    plain = train(build_config(tiny_tree("pd", steps=4, log_every=1, checkpoint_every=4)), tmp_path / "a")
    scored = train(build_config(tiny_tree("pd", steps=4, log_every=1, checkpoint_every=4, eval_every=2,
                                          eval_metrics=["vsa"])), tmp_path / "b")
    assert "eval.vsa.swap.iou" in read_metrics(scored)[1]
    a, b = load_state(plain)["model"], load_state(scored)["model"]
    assert all(torch.equal(a[n], b[n]) for n in a)
