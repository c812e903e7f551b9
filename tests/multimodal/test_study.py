"""The multimodal study's parts on the one spine: the measures during training (the evaluator's
``during``, rows of metrics.jsonl) and after it (``eval.json``, ``bvae eval``), a run loaded back,
the run report's sections, the study's records and Langer's windows, and the ``bvae multimodal``
command that is left (the simulator)."""

import json

import numpy as np
import pytest
import scipy.io
import torch

from betavae.cli import main
from betavae.config import build_config
from betavae.errors import BetavaeError
from betavae.experiments.evaluators import evaluator_for
from betavae.experiments.run import train
from betavae.experiments.rundir import read_metrics
from betavae.multimodal.settings import MEASURES
from betavae.multimodal.study import load_study, schedule_label

from .conftest import TINY_DATA

MODS = ["joints", "vision", "touch", "sound", "motor"]


def tiny_tree(**train):
    return {"name": "mm", "data": TINY_DATA, "model": {"kind": "zambelli", "measures": {"n_points": 50, "rollout_steps": 2}},
            "objective": {"kind": "multimodal_elbo", "alpha": {"kind": "kl_weight", "variant": "constant_0",
                                                               "epochs": 4, "decay_epochs": 2, "e_dyn": 4}},
            "train": {"epochs": 4, "batch_size": 200, "lr": 1e-3, "log_every": 1, "checkpoint_every": 2,
                      "eval_every": 2, "eval_metrics": list(MEASURES), "device": "cpu", "threads": 1,
                      "report": False} | train}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny measured run, evaluated after training (eval.json)."""
    out = train(build_config(tiny_tree()), tmp_path_factory.mktemp("runs"))
    evaluator_for("sensorimotor").after(out, {"metrics": None})
    return out


def test_eval_metrics_are_the_measures():
    cfg = build_config(tiny_tree(eval_metrics=["prediction_error", "sme_all"]))
    assert cfg.train.eval_metrics == ["prediction_error", "sme_all"]
    with pytest.raises(BetavaeError, match="mig: a zambelli model is measured during training with sme_mod"):
        build_config(tiny_tree(eval_metrics=["mig"]))
    assert build_config(tiny_tree(eval_every=None, eval_metrics=["mig"])).train.eval_every is None  # unused


def test_during_leaves_the_training_random_state_and_mode_alone(sim_tiny):
    from betavae.train.loop import Loop

    loop = Loop([build_config(tiny_tree(eval_metrics=["prediction_error", "sme_mod"]) | {"seed": 3})])
    model = loop.task.member(0).train()
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    scores = evaluator_for("sensorimotor").during(model, loop.task, loop.tc)
    assert model.training and torch.equal(torch_state, torch.random.get_rng_state())
    assert np.array_equal(np_state, np.random.get_state()[1])
    assert sorted(scores) == ["eval.prediction_error"] + sorted(f"eval.sme_mod.{m}" for m in MODS)
    assert scores == evaluator_for("sensorimotor").during(model, loop.task, loop.tc)  # deterministic


def test_measures_through_training_and_after(run, sim_tiny):
    from betavae.multimodal.protocols import block_scale

    rows = read_metrics(run)
    measured = [r for r in rows if "eval.baseline_all" in r]
    assert [(r["step"], r["epoch"]) for r in measured] == [(0, 0), (12, 2), (24, 4)]
    assert [r["epoch"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    result = json.loads((run / "eval.json").read_text())
    values = result["values"]
    for key in ("prediction_error", "baseline_all", "sme_all.vision", "lop_mod.motor"):
        assert values[key] == pytest.approx(measured[-1][f"eval.{key}"], rel=1e-12)
    for mod in MODS:
        assert 0 <= values[f"sme_mod.{mod}"] <= values[f"sme_all.{mod}"]
        assert 0 <= values[f"lop_mod.{mod}"] <= values[f"lop_all.{mod}"]
    assert sum(values[f"baseline_mod.{m}"] for m in MODS) == pytest.approx(values["baseline_all"])
    prot = result["protocols"]
    # the normalised error is the RMSE over the RMS deviation of the scored columns (1 = their means);
    # with 200 test rows every row is scored, and vision_only mutes both steps of the joints
    scale = block_scale(sim_tiny.test, sim_tiny.layout.columns("joints"))
    assert values["protocol.vision_only.nrmse_muted.joints"] == pytest.approx(prot["vision_only.rmse_muted.joints"] / scale)
    assert prot["complete.rmse_muted.joints"] is None and "protocol.complete.nrmse_muted.joints" not in values
    assert result["settings"]["sme_keep"] == "older" and result["settings"]["n_points"] == 50


def test_block_scale_is_the_rmse_of_the_column_means():
    from betavae.multimodal.protocols import block_scale

    x = np.array([[0.0, 1.0, 5.0], [2.0, 3.0, 5.0]])
    assert block_scale(x, np.array([0, 1])) == 1.0  # deviations ±1 from the means
    assert np.isnan(block_scale(x, np.array([2]))) and np.isnan(block_scale(x, np.array([], dtype=int)))


def test_load_run_gives_one_model_without_the_member_axis(run, sim_tiny):
    import betavae

    loaded = betavae.load_run(run)
    x = sim_tiny.test[:7]
    mu_z, logvar_z = loaded.encode(x)
    mu_x, logvar_x = loaded.decode(mu_z)
    assert mu_z.shape == logvar_z.shape == (7, 28) and mu_x.shape == logvar_x.shape == (7, 28)
    assert np.array_equal(loaded.predict(x), mu_x)  # predict = decode(μ_z)
    stacked = loaded.config.model.build([0], sim_tiny.layout)
    stacked.load_state_dict(loaded.model.state_dict())
    ref = stacked.reconstruct(torch.as_tensor(x))[0][0].float().numpy()
    assert np.array_equal(ref, mu_x)


def test_bvae_eval_scores_a_multimodal_run(run, capsys):
    assert main(["eval", str(run), "--metrics", "prediction_error,sme_all"]) == 0
    out = capsys.readouterr().out
    assert "prediction_error" in out and "sme_all.vision" in out and "sme_mod" not in out
    assert set(json.loads((run / "eval.json").read_text())["values"]) == {"prediction_error", *(f"sme_all.{m}" for m in MODS)}
    assert main(["eval", str(run), "--metrics", "mig"]) == 2
    assert "mig: multimodal (sensorimotor) runs are scored with" in capsys.readouterr().err
    evaluator_for("sensorimotor").after(run, {"metrics": None})  # back to everything for the tests below


def test_the_run_report_has_the_sections(run):
    from betavae.report import write_report

    html = write_report(run).read_text()
    for fig in ("mm_training", "mm_measure_curves", "mm_baseline", "mm_measures"):
        assert f'src="report/{fig}.png"' in html and (run / "report" / f"{fig}.png").stat().st_size > 5000
    assert "Normalised RMSE of the muted columns" in html and "Integration measures after training" in html
    assert "could not be drawn" not in html


def test_the_study_records_and_windows(run):
    study = load_study([run])
    assert study.schedules == ["const0"] and study.epochs == 4 and list(study.runs) == [("const0", 0)]
    pe = [r for r in study.records if r["measure"] == "prediction_error"]
    assert [r["epoch"] for r in pe] == [0, 2, 4]
    kl = [r for r in study.records if r["measure"] == "train_kl"]
    assert [r["epoch"] for r in kl] == [2, 4] and kl[-1]["value"] == read_metrics(run)[-1]["kl"]
    assert study.histories["const0"]["loss"].shape == (4, 1)
    assert study.histories["const0"]["epoch"][:, 0].tolist() == [1, 2, 3, 4]
    assert len(study.protocols) == 1 and "rollout2.nrmse.vision" in study.protocols[0]


def test_schedule_labels():
    assert schedule_label(build_config(tiny_tree())) == "const0"
    tree = tiny_tree()
    tree["objective"]["alpha"] = {"kind": "constant", "value": 0.5}
    assert schedule_label(build_config(tree)) == "constant"


def test_window_means_and_curves_known_answers():
    from betavae.multimodal.summary import curves, window_intervals, window_means

    rec = [{"schedule": "a", "seed": s, "epoch": e, "measure": "m", "modality": "all", "value": v}
           for s, vals in ((0, {0: 9.0, 70: 1.0, 80: 3.0, 90: 5.0, 100: 7.0}), (1, {0: 9.0, 70: 2.0, 80: 4.0, 90: 6.0, 100: 8.0}))
           for e, v in vals.items()]
    w = window_means(rec, 100, "final")[("a", "m", "all")]  # epochs 87.5..100: seed 0 -> 6, seed 1 -> 7
    assert w == {"mean": 6.5, "std": 0.5, "min": 6.0, "max": 7.0, "n": 2}
    assert window_means(rec, 100, "pre")[("a", "m", "all")]["mean"] == 3.5  # 75..87.5: epoch 80 only
    c = curves(rec, "m")["a"]
    assert c["epoch"].tolist() == [0, 70, 80, 90, 100] and c["mean"].tolist() == [9.0, 1.5, 3.5, 5.5, 7.5]
    i = window_intervals(rec, 100, "final")[("a", "m", "all")]  # t(0.975, 1) = 12.706, s = √0.5, n = 2
    assert i["mean"] == 6.5 and i["high"] - 6.5 == pytest.approx(12.7062047 * np.sqrt(0.5) / np.sqrt(2))


def test_cli_simulate(tmp_path):
    mat = tmp_path / "sim.mat"
    assert main(["multimodal", "simulate", "--out", str(mat), "--n-train", "100", "--n-test", "30"]) == 0
    arrays = scipy.io.loadmat(mat)
    assert arrays["final_database_train"].shape == (400, 56) and arrays["final_database_test"].shape == (30, 28)


@pytest.mark.parametrize("override, message", [
    ("model.measures.pe_input=touch:none", "step must be newer, older or both"),
    ("model.measures.pe_input=','", "leaves nothing visible"),
    ("model.measures.sme_keep=oldest", "model.measures.sme_keep"),
])
def test_bad_measure_settings_are_one_line(tmp_path, capsys, override, message):
    code = main(["train", "multimodal_zambelli", "train.epochs=1", "data.simulator.n_train=300",
                 "data.simulator.n_test=50", "train.batch_size=200", override, "--runs-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_wrong_shape_mat_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"final_database_train": np.zeros((7380, 28 + 27)), "final_database_test": np.zeros((5, 28))})
    code = main(["train", "multimodal_zambelli", f"data.train_path={bad}", f"data.test_path={bad}",
                 "--runs-dir", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "has shape (7380, 55)" in err and err.count("\n") == 1
