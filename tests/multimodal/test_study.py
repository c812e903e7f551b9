"""The study runner, its files and report, and the ``bvae multimodal`` commands."""

import csv
import json

import numpy as np
import pytest
import scipy.io

from betavae.cli import main
from betavae.errors import BetavaeError
from betavae.multimodal.report import write_report
from betavae.multimodal.study import StudyConfig, checkpoints, run_study

TINY = {"train": {"epochs": 6, "batch_size": 200, "eval_every": 3, "lr": 1e-3},
        "data": {"simulator": {"n_train": 300, "n_test": 200}}, "measures": {"n_points": 100}}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = StudyConfig.model_validate(TINY | {"schedules": ["const1", "const0"], "seeds": [0, 1]})
    run_study(cfg, out)
    write_report(out)
    return out


def test_checkpoints():
    assert checkpoints(6, 3) == [0, 3, 6] and checkpoints(7, 3) == [0, 3, 6, 7]


def test_every_measure_per_modality_schedule_seed_checkpoint(study_dir):
    records = json.loads((study_dir / "measures.json").read_text())
    with open(study_dir / "measures.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records)
    assert float(rows[7]["value"]) == records[7]["value"] and rows[7]["schedule"] == records[7]["schedule"]
    keys = {(r["schedule"], r["seed"], r["epoch"], r["measure"], r["modality"]) for r in records}
    assert len(keys) == len(records)  # no duplicates
    mods = ["joints", "vision", "touch", "sound", "motor"]
    for s in ("const1", "const0"):
        for seed in (0, 1):
            for epoch in (0, 3, 6):
                for m in ("sme_mod", "sme_all", "lop_mod", "lop_all", "baseline_mod"):
                    assert all((s, seed, epoch, m, mod) in keys for mod in mods)
                assert (s, seed, epoch, "baseline_all", "all") in keys
                assert (s, seed, epoch, "prediction_error", "all") in keys
            assert (s, seed, 6, "train_kl", "all") in keys


def test_history_meta_weights_and_protocols(study_dir):
    meta = json.loads((study_dir / "study.json").read_text())
    assert meta["config"]["measures"]["sme_keep"] == "older" and meta["config"]["train"]["nll_constant"] == "reference"
    assert meta["schedules"]["const0"]["decay_epochs"] == 1 and meta["checkpoints"] == [0, 3, 6]
    assert meta["completed"] == ["const1", "const0"]
    with np.load(study_dir / "history_const1.npz") as z:
        assert z["loss"].shape == (6, 2) and (z["alpha"] == 1).all() and z["seeds"].tolist() == [0, 1]
    records = json.loads((study_dir / "measures.json").read_text())
    kl6 = [r["value"] for r in records if r["measure"] == "train_kl" and r["epoch"] == 6 and r["schedule"] == "const1"]
    with np.load(study_dir / "history_const1.npz") as z:
        np.testing.assert_allclose(kl6, z["kl"][-1])
    assert sorted(p.name for p in (study_dir / "weights").iterdir()) == [
        "const0_s0.safetensors", "const0_s1.safetensors", "const1_s0.safetensors", "const1_s1.safetensors"]
    prot = json.loads((study_dir / "protocols.json").read_text())
    assert len(prot) == 4 and "rollout5.rmse.vision" in prot[0]


def test_report_shows_figures_and_escapes(study_dir):
    html = (study_dir / "report.html").read_text()
    for fig in ("training", "baseline", "measures"):
        assert f'src="figures/{fig}.png"' in html and (study_dir / "figures" / f"{fig}.png").stat().st_size > 5000
    assert "const1" in html and "sme_all" in html
    meta = json.loads((study_dir / "study.json").read_text())
    meta["data_source"] = "<script>alert(1)</script>"
    (study_dir / "study.json").write_text(json.dumps(meta))
    html = write_report(study_dir).read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_weights_reload_into_the_model(study_dir):
    import torch
    from safetensors.torch import load_file

    from betavae.models.multimodal import EnsembleVAE

    state = load_file(study_dir / "weights" / "const0_s1.safetensors")
    m = EnsembleVAE([0])
    with torch.no_grad():
        for name, p in m.params.items():
            p.copy_(state[name][None])
    assert m.parameters_per_member() == 29_150


def test_cli_study_and_simulate(tmp_path, capsys):
    out = tmp_path / "s"
    code = main(["multimodal", "study", "--schedules", "const1,{kind: constant, value: 0.5, name: half}",
                 "--seeds", "2", "--epochs", "2", "--eval-every", "1", "--batch-size", "200", "--sim-train", "200",
                 "--sim-test", "120", "--n-points", "50", "--sme-keep", "both", "--latent-mode", "sample",
                 "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert (out / "report.html").is_file() and (out / "history_half.npz").is_file()
    measures = json.loads((out / "study.json").read_text())["config"]["measures"]
    assert measures["sme_keep"] == "both" and measures["latent_mode"] == "sample"
    mat = tmp_path / "sim.mat"
    assert main(["multimodal", "simulate", "--out", str(mat), "--n-train", "100", "--n-test", "30"]) == 0
    arrays = scipy.io.loadmat(mat)
    assert arrays["final_database_train"].shape == (400, 56) and arrays["final_database_test"].shape == (30, 28)


@pytest.mark.parametrize("args, message", [
    (["--schedules", "const1,cosntant0"], "unknown schedule 'cosntant0'"),
    (["--pe-input", "touch:none"], "step must be newer, older or both"),
    (["--pe-input", ","], "leaves nothing visible"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, args, message):
    code = main(["multimodal", "study", "--epochs", "1", "--seeds", "1", "--sim-train", "300", "--sim-test", "50",
                 "--batch-size", "200", "--out", str(tmp_path / "x"), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_cli_wrong_shape_mat(tmp_path, capsys):
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"final_database_train": np.zeros((7380, 28 + 27)), "final_database_test": np.zeros((5, 28))})
    code = main(["multimodal", "study", "--train-file", str(bad), "--test-file", str(bad), "--epochs", "1",
                 "--seeds", "1", "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "has shape (7380, 55)" in err and err.count("\n") == 1


def test_study_config_errors(tmp_path):
    with pytest.raises(BetavaeError, match="needs both"):
        run_study(StudyConfig.model_validate({"data": {"train_path": str(tmp_path / "a.mat")}}), tmp_path)
    with pytest.raises(BetavaeError, match="label"):
        run_study(StudyConfig.model_validate(TINY | {"schedules": ["{kind: constant, value: 1, name: a b}"], "seeds": [0]}),
                  tmp_path)


def test_window_means_and_curves_known_answers():
    from betavae.multimodal.summary import curves, window_means

    rec = [{"schedule": "a", "seed": s, "epoch": e, "measure": "m", "modality": "all", "value": v}
           for s, vals in ((0, {0: 9.0, 70: 1.0, 80: 3.0, 90: 5.0, 100: 7.0}), (1, {0: 9.0, 70: 2.0, 80: 4.0, 90: 6.0, 100: 8.0}))
           for e, v in vals.items()]
    w = window_means(rec, 100, "final")[("a", "m", "all")]  # epochs 87.5..100: seed 0 -> 6, seed 1 -> 7
    assert w == {"mean": 6.5, "std": 0.5, "min": 6.0, "max": 7.0, "n": 2}
    assert window_means(rec, 100, "pre")[("a", "m", "all")]["mean"] == 3.5  # 75..87.5: epoch 80 only
    c = curves(rec, "m")["a"]
    assert c["epoch"].tolist() == [0, 70, 80, 90, 100] and c["mean"].tolist() == [9.0, 1.5, 3.5, 5.5, 7.5]
