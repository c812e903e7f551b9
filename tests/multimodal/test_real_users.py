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
from betavae.metrics.integration import integration_measures, measure_masks
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


# ---------------------------------------------------------------- data from files (spec §8)

def _files(tmp_path, sim_tiny, name="sim.npz"):
    """The tiny simulated set written as a user's file."""
    from betavae.data.sensorimotor_files import as_train56, save_sensorimotor

    return save_sensorimotor(tmp_path / name, as_train56(sim_tiny), sim_tiny.test)


def test_a_real_data_run_does_not_carry_the_simulators_settings(tmp_path, sim_tiny):
    """config.yaml (and the run id's hash) hold what was used: no simulator, no data.seed."""
    import yaml

    from betavae.config import build_config

    path = _files(tmp_path, sim_tiny)
    files = [f"data.train_path={path}", f"data.test_path={path}"]
    config = load_config(shipped_path("multimodal_zambelli"), [*TINY, *files, "train.epochs=1", "train.report=true"])
    run = train(config, tmp_path / "runs")
    data = yaml.safe_load((run / "config.yaml").read_text())["data"]
    assert data == {"kind": "sensorimotor", "train_path": str(path), "test_path": str(path), "augment": False}
    assert build_config(yaml.safe_load((run / "config.yaml").read_text())).run_id() == run.name
    for name in ("config.yaml", "meta.json"):
        assert "simulator" not in (run / name).read_text() and "pixel_noise" not in (run / name).read_text()
    report = (run / "report.md").read_text()  # its difference from the shipped config says: none here
    assert [line for line in report.splitlines() if "simulator" in line] == ["| data.simulator | (35 keys) | (absent) |"]
    assert "training terms failed" not in report and "Training terms" in report  # a run without measures
    other_sim = load_config(shipped_path("multimodal_zambelli"), [*TINY, *files, "train.epochs=1", "train.report=true",
                                                                  "data.simulator.n_train=7", "data.seed=5"])
    assert other_sim.run_id() == config.run_id()  # settings that are not used do not name the run
    simulated = load_config(shipped_path("multimodal_zambelli")).to_dict()["data"]
    assert "augment" not in simulated and simulated["simulator"]["n_train"] == 1845 and simulated["seed"] == 0


def test_augment_on_trains_from_a_clean_file_and_needs_files(tmp_path, sim_tiny, capsys):
    import scipy.io

    clean = tmp_path / "clean28.mat"
    scipy.io.savemat(clean, {"final_database_train": sim_tiny.train_clean, "final_database_test": sim_tiny.test})
    files = [f"data.train_path={clean}", f"data.test_path={clean}"]
    config = load_config(shipped_path("multimodal_zambelli"), [*TINY, *files, "data.augment=true"])
    data = config.data.build()
    np.testing.assert_array_equal(data.train_input, sim_tiny.train_input)
    np.testing.assert_array_equal(data.train_group, sim_tiny.train_group)
    out = tmp_path / "runs"
    assert main(["train", "multimodal_zambelli", *TINY, *files, "--no-progress", "--runs-dir", str(out)]) == 2
    n = len(sim_tiny.train_clean)
    assert capsys.readouterr().err == (
        f"bvae: error: {clean}: 'final_database_train' has shape ({n}, 28) (float64); expected (N, 56) numbers; "
        "(N, 28) looks like clean rows: save them under the key 'clean', or turn augmentation on "
        "(data.augment=true; load_sensorimotor(..., augment=True)) to build the four muting groups\n")
    assert not out.exists()
    with pytest.raises(BetavaeError, match="augment builds the muting groups of a clean training file"):
        load_config(shipped_path("multimodal_zambelli"), ["data.augment=true"])


def test_a_nan_in_a_users_file_is_named_by_bvae_train(tmp_path, sim_tiny, capsys):
    from betavae.data.sensorimotor_files import as_train56, save_sensorimotor

    train56 = as_train56(sim_tiny).copy()
    train56[5, 30] = np.nan
    path = save_sensorimotor(tmp_path / "nan.mat", train56, sim_tiny.test)
    out = tmp_path / "runs"
    assert main(["train", "multimodal_zambelli", *TINY, f"data.train_path={path}", f"data.test_path={path}",
                 "--no-progress", "--runs-dir", str(out)]) == 2
    assert capsys.readouterr().err == (f"bvae: error: {path}: 'final_database_train' row 5 column 30 (from 0) is NaN "
                                       "(1 in all, in 1 rows); every value must be a finite number\n")
    assert not out.exists()


def _sweep_file(tmp_path, data: dict, name="s.yaml") -> str:
    import yaml

    tree = {"name": "mm", "base": "multimodal_zambelli",
            "set": {"data": {"kind": "sensorimotor", **data}, "train.epochs": 2, "train.batch_size": 200,
                    "train.lr": 1e-3, "train.device": "cpu", "model.measures.n_points": 32},
            "seeds": [0, 1], "ensemble": 2, "evaluate": {"metrics": ["protocols"]}, "report": False}
    (tmp_path / name).write_text(yaml.safe_dump(tree))
    return str(tmp_path / name)


def test_a_sweep_on_bad_files_fails_before_making_any_folder(tmp_path, sim_tiny, capsys):
    from betavae.data.sensorimotor_files import as_train56, save_sensorimotor

    out = tmp_path / "out"
    missing = _sweep_file(tmp_path, {"train_path": "/nonexistent/a.mat", "test_path": "/nonexistent/b.mat"})
    assert main(["sweep", missing, "--runs-dir", str(out), "--workers", "1"]) == 2
    assert capsys.readouterr().err == "bvae: error: /nonexistent/a.mat: no such file\n"
    assert not out.exists()
    test = sim_tiny.test.copy()
    test[2, 9] = np.inf
    bad = save_sensorimotor(tmp_path / "inf.npz", as_train56(sim_tiny), test)
    out.mkdir()
    (out / "earlier.txt").write_text("kept")  # what an earlier command wrote stays
    assert main(["sweep", _sweep_file(tmp_path, {"train_path": str(bad), "test_path": str(bad)}),
                 "--runs-dir", str(out), "--workers", "1"]) == 2
    assert capsys.readouterr().err.startswith(f"bvae: error: {bad}: 'final_database_test' row 2 column 9 (from 0) is inf")
    assert sorted(p.name for p in out.iterdir()) == ["earlier.txt"]


def test_a_sweep_to_a_file_shows_each_tasks_progress(tmp_path):
    """Output to a file (not a terminal): the workers' progress lines, one per logged epoch at 0 s."""
    import subprocess
    import sys

    sweep = _sweep_file(tmp_path, {"seed": 1, "simulator": {"n_train": 300, "n_test": 200}})
    out = subprocess.run([sys.executable, "-m", "betavae.cli", "sweep", sweep, "--runs-dir", str(tmp_path / "r"),
                          "--workers", "1", "--progress-every", "0"], capture_output=True,
                         text=True, check=True)
    lines = [line for line in out.stderr.splitlines() if ": step " in line]
    assert [line.split(": step ")[1].split()[0] for line in lines] == ["6/12", "12/12"]  # 6 steps per epoch
    assert all(line.startswith("multimodal-zambelli-") and "(+1 trained with it)" in line for line in lines)
    assert "epoch 1 " in lines[0] and "epoch 2 " in lines[1] and lines[1].endswith(" left") and " in, " in lines[1]
    rows = [json.loads(r) for r in next((tmp_path / "r").glob("multimodal-zambelli-*-s0/metrics.jsonl")).read_text().splitlines()]
    assert f"loss {rows[-1]['loss']:.4g}" in lines[-1]
    assert "2 runs (2 finished)" in out.stdout


# ---------------------------------------------------------------- bvae multimodal use (spec §7)

def _mean_model(x):
    """A model whose decoder returns each column's mean over the rows x, whatever the input."""
    mean = x.mean(0)
    return lambda inp: (np.broadcast_to(mean, inp.shape).copy(), np.zeros(inp.shape))


def _perfect_forward_model(x):
    """Looks each input's kept t-1 blocks up among the rows and returns that row: a perfect forward
    model on trajectory data (row k+1's t-1 blocks are row k's t blocks). Inputs made across a
    trajectory's end match no row; they get row 0 (the rollout does not score them)."""
    from betavae.data.sensorimotor_layout import MUTED

    older = reference_layout().step_mask("older")
    table = {x[k, older].tobytes(): k for k in range(len(x))}

    def reconstruct(inp):
        assert (inp[:, ~older] == MUTED).all()
        return x[[table.get(row[older].tobytes(), 0) for row in inp]], np.zeros(inp.shape)

    return reconstruct


def test_a_decoder_that_returns_the_mean_scores_one(sim_tiny):
    from betavae.multimodal.use import use_rows

    x, lay = sim_tiny.test, reference_layout()
    for mode in ("vision_only", "predict_next"):
        v = use_rows(_mean_model(x), x, sim_tiny.consecutive(), lay, mode)
        for m in lay.names:
            assert v[f"nrmse_all.{m}"] == pytest.approx(1.0, abs=1e-12)
            if m != "vision" or mode == "predict_next":
                assert v[f"nrmse.{m}"] == pytest.approx(1.0, abs=1e-12)
        assert v["count"] == len(x)
    v = use_rows(_mean_model(x), x, sim_tiny.consecutive(), lay, "vision_only")
    assert v["rmse.vision"] != v["rmse.vision"] and v["rmse_all.vision"] > 0  # nothing of vision is muted: NaN
    v = use_rows(_mean_model(x), x, sim_tiny.consecutive(), lay, "rollout", steps=1)
    assert all(v[f"step1.nrmse.{m}"] == pytest.approx(1.0, abs=1e-12) for m in lay.names)


def test_a_perfect_forward_model_scores_zero_along_the_rollout(sim_tiny):
    from betavae.multimodal.use import use_rows

    x, cons, lay = sim_tiny.test, sim_tiny.consecutive(), reference_layout()
    v = use_rows(_perfect_forward_model(x), x, cons, lay, "predict_next")
    assert all(v[f"rmse.{m}"] == 0 and v[f"nrmse.{m}"] == 0 for m in lay.names)
    v = use_rows(_perfect_forward_model(x), x, cons, lay, "rollout", steps=3)
    assert all(v[f"step{j}.rmse.{m}"] == 0 for j in (1, 2, 3) for m in lay.names)
    # step j scores row k where rows k … k+j−1 are one trajectory
    assert [v[f"step{j}.count"] for j in (1, 2, 3)] == [
        len(x), int(cons.sum()), int((cons[:-1] & cons[1:]).sum())]
    assert set(v) == {f"step{j}.{s}.{m}" for j in (1, 2, 3) for s in ("rmse", "nrmse") for m in lay.names} | {
        f"step{j}.count" for j in (1, 2, 3)}


def test_bvae_multimodal_use_on_a_run(tiny_run, capsys, tmp_path):
    """Its numbers are the evaluator's test protocols on the same rows; a rollout of length 1 is
    predict_next; the table and the JSON file carry the same values."""
    from betavae.experiments.load import load_run
    from betavae.multimodal.scoring import protocols

    run = load_run(tiny_run)
    prot = {k: float(v) for k, v in protocols(run.model, run.source, run.config.model.measures).items()}
    names = reference_layout().names
    assert main(["multimodal", "use", str(tiny_run), "--mode", "predict_next"]) == 0
    lines = capsys.readouterr().out.splitlines()
    nxt = json.loads((tiny_run / "use_predict_next.json").read_text())
    assert nxt["rows"] == [0, 200] and lines[-1] == f"wrote {tiny_run / 'use_predict_next.json'}"
    for m, line in zip(names, lines[1:6], strict=True):
        assert nxt["values"][f"rmse.{m}"] == pytest.approx(prot[f"prediction.rmse_muted.{m}"], rel=1e-12)
        assert nxt["values"][f"nrmse.{m}"] == pytest.approx(prot[f"prediction.nrmse_muted.{m}"], rel=1e-12)
        assert line.split()[:3] == [m, f"{nxt['values'][f'rmse.{m}']:.4f}", f"{nxt['values'][f'nrmse.{m}']:.4f}"]
    out = tmp_path / "roll.json"
    assert main(["multimodal", "use", str(tiny_run), "--mode", "rollout", "--steps", "1", "--out", str(out)]) == 0
    roll = json.loads(out.read_text())
    assert all(roll["values"][f"step1.{s}.{m}"] == nxt["values"][f"{s}.{m}"] for s in ("rmse", "nrmse") for m in names)
    assert main(["multimodal", "use", str(tiny_run), "--mode", "rollout", "--steps", "2", "--start", "vision_only",
                 "--out", str(out)]) == 0
    roll = json.loads(out.read_text())["values"]
    for j in (1, 2):
        assert roll[f"step{j}.count"] == prot[f"rollout{j}.count"]
        assert all(roll[f"step{j}.rmse.{m}"] == pytest.approx(prot[f"rollout{j}.rmse.{m}"], rel=1e-12) for m in names)
    assert main(["multimodal", "use", str(tiny_run), "--mode", "vision_only", "--out", str(out)]) == 0
    vis = json.loads(out.read_text())["values"]
    assert all(vis[f"nrmse.{m}"] == pytest.approx(prot[f"vision_only.nrmse_muted.{m}"], rel=1e-12)
               for m in names if m != "vision")
    assert vis["rmse.vision"] is None and vis["rmse_all.vision"] == pytest.approx(prot["vision_only.rmse_all.vision"])
    capsys.readouterr()


def test_bvae_multimodal_use_on_a_users_file_and_its_errors(tiny_run, sim_tiny, tmp_path, capsys):
    import scipy.io

    rows = tmp_path / "rows.mat"
    scipy.io.savemat(rows, {"clean": sim_tiny.test[:60]})
    out = tmp_path / "u.json"
    assert main(["multimodal", "use", str(tiny_run), "--mode", "predict_next", "--data", str(rows), "--key", "clean",
                 "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["rows"] == [0, 60] and got["values"]["count"] == 60 and got["data"] == str(rows)
    assert main(["multimodal", "use", str(tiny_run), "--mode", "predict_next", "--rows", "10:30", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["rows"] == [10, 30]
    capsys.readouterr()
    assert main(["multimodal", "use", str(tiny_run), "--mode", "predict_next", "--data", str(rows)]) == 2
    assert capsys.readouterr().err == f"bvae: error: {rows}: no array 'final_database_test' (found: clean)\n"
    assert main(["multimodal", "use", str(tiny_run), "--mode", "predict_next", "--rows", "150:"]) == 0
    assert main(["multimodal", "use", str(tiny_run), "--mode", "predict_next", "--rows", "250:300"]) == 2
    assert "give START:END with 0 <= START < END <= 200" in capsys.readouterr().err
    assert main(["multimodal", "use", str(tiny_run), "--mode", "vision_only", "--start", "vision_only"]) == 2


# ---------------------------------------------------------------- the matched-budget study (issue #23)

#: Langer et al.'s budget (spec §5): Adam at lr 5e-5 for 80,000 epochs
PAPER_LR_EPOCHS = 5e-5 * 80_000


@pytest.mark.parametrize("name", ["sweep_multimodal_langer", "sweep_multimodal_langer_full"])
def test_the_study_sweeps_match_the_papers_budget(name, tmp_path, capsys):
    """lr × epochs as in the paper, the schedules scaled to the run's length, 20 seeds per schedule
    trained as one ensemble each, and the SME mask ablation in the evaluation after training."""
    from betavae.experiments.study import ensemble_groups
    from betavae.experiments.sweep import load_sweep
    from betavae.multimodal.schedules import study_schedule
    from betavae.multimodal.study import schedule_label

    sweep = load_sweep(shipped_path(name))
    runs = sweep.expand()
    assert len(runs) == 80
    for run in runs:
        train_cfg, alpha = run.config.train, run.config.objective.alpha
        assert train_cfg.lr * train_cfg.epochs == pytest.approx(PAPER_LR_EPOCHS, rel=1e-12)
        assert alpha == study_schedule(schedule_label(run.config), train_cfg.epochs)
    groups = ensemble_groups(runs, sweep.spec.ensemble)
    assert [len(g) for g in groups] == [20] * 4
    assert [sorted(r.config.seed for r in g) for g in groups] == [list(range(20))] * 4
    assert sorted(schedule_label(g[0].config) for g in groups) == ["const0", "const1", "dyn_plateau0", "dyn_plateau1"]
    assert all(len({schedule_label(r.config) for r in g}) == 1 for g in groups)  # one schedule per ensemble
    assert sweep.spec.evaluate.model_dump()["sme_keep"] == ["older", "both"]
    assert "protocols" in sweep.spec.evaluate.metrics
    assert main(["sweep", name, "--dry-run", "--runs-dir", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 80 and all(line.split()[1] == "train" for line in lines)
    assert not (tmp_path / "r").exists()
