"""The multimodal study as a sweep (issue #19), on both executors: a tiny study of 2 KL-weight
schedules x 2 seeds trained as one stacked ensemble, measured during training (``eval.*`` rows at
epoch 0 and every ``eval_every`` epochs) and after it (``eval.json``), aggregated, skipped when
rerun, and resumed from its checkpoints after its worker is killed."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading

import numpy as np
import pytest

from betavae.experiments.rundir import read_meta, read_metrics
from betavae.experiments.study import run_sweep
from betavae.experiments.sweep import sweep_from_dict
from betavae.multimodal.settings import MEASURES

from .test_sweep import executor, run_folders, wait_for

MODS = ["joints", "vision", "touch", "sound", "motor"]
SCHEDULES = ["constant_1", "constant_0"]


def mm_tree(epochs: int = 4, eval_every: int = 2) -> dict:
    """A tiny run of the sensorimotor task: 300 simulated rows (x4 groups), batch 200 (6 steps per epoch)."""
    return {"name": "mm", "data": {"kind": "sensorimotor", "seed": 1, "simulator": {"n_train": 300, "n_test": 200}},
            "model": {"kind": "zambelli", "measures": {"n_points": 64, "rollout_steps": 2}},
            "objective": {"kind": "multimodal_elbo", "alpha": {"kind": "kl_weight", "variant": "dyn_plateau_0",
                                                               "epochs": epochs, "decay_epochs": 1,
                                                               "period": 8, "e_dyn": epochs}},
            "train": {"epochs": epochs, "batch_size": 200, "lr": 1e-3, "log_every": 1, "checkpoint_every": 1,
                      "eval_every": eval_every, "eval_metrics": list(MEASURES), "device": "cpu", "report": False}}


def mm_sweep(epochs: int = 4, eval_every: int = 2, **extra):
    return sweep_from_dict({"name": "mm", "base": mm_tree(epochs, eval_every),
                            "grid": {"objective.alpha.variant": SCHEDULES}, "seeds": [0, 1], "ensemble": 4,
                            "evaluate": {"metrics": [*MEASURES, "protocols"]}, "report": False, **extra})


def assert_rows(run_dir, epochs: int, eval_every: int) -> None:
    """Every epoch's training row once; the measures at epoch 0 and every eval_every epochs, once."""
    rows = read_metrics(run_dir)
    assert [r["epoch"] for r in rows if "loss" in r] == list(range(1, epochs + 1))
    measured = [r for r in rows if "eval.prediction_error" in r]
    assert [r["epoch"] for r in measured] == list(range(0, epochs + 1, eval_every))
    assert measured[0]["step"] == 0 and "loss" not in measured[0]  # the untrained model's row
    for r in measured:
        assert all(f"eval.{m}.{mod}" in r for m in ("sme_mod", "sme_all", "lop_mod", "lop_all", "baseline_mod")
                   for mod in MODS) and "eval.baseline_all" in r


def assert_valid_measures(values: dict) -> None:
    """The measures' ranges and identities (spec §6): KLs ≥ 0, modality ≤ all, Σ B^mod = B^all."""
    for mod in MODS:
        assert 0 <= values[f"sme_mod.{mod}"] <= values[f"sme_all.{mod}"]
        assert 0 <= values[f"lop_mod.{mod}"] <= values[f"lop_all.{mod}"]
        assert 0 <= values[f"baseline_mod.{mod}"] <= values["baseline_all"]
    assert sum(values[f"baseline_mod.{m}"] for m in MODS) == pytest.approx(values["baseline_all"], rel=1e-9)
    assert values["prediction_error"] > 0
    nrmse = {k: v for k, v in values.items() if k.startswith("protocol.")}
    assert len(nrmse) >= 20 and all(np.isfinite(v) and v >= 0 for v in nrmse.values())


def test_a_tiny_study_runs_measures_aggregates_then_skips(tmp_path, executor_kind):
    with executor(executor_kind) as ex:
        first = run_sweep(mm_sweep(), ex, tmp_path)
    assert first.statuses == {"finished": 4} and len(first.records) == 1  # one stacked ensemble of 4
    assert len(first.records[0]["members"]) == 4
    folders = run_folders(tmp_path)
    assert len(folders) == 4
    for f in folders:
        assert_rows(f, 4, 2)
        result = json.loads((f / "eval.json").read_text())
        assert_valid_measures(result["values"])
        last = [r for r in read_metrics(f) if "eval.prediction_error" in r][-1]
        for key in ("prediction_error", "baseline_all", "sme_all.vision", "lop_mod.touch"):  # after == last during
            assert result["values"][key] == pytest.approx(last[f"eval.{key}"], rel=1e-12, abs=1e-300)
        assert result["settings"]["n_points"] == 64 and result["settings"]["rollout_steps"] == 2
        assert result["protocols"]["rollout2.count"] > 0
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert sorted(r["objective.alpha.variant"] for r in rows) == sorted(SCHEDULES * 2)
    for r in rows:
        assert r["status"] == "finished" and float(r["baseline_all"]) >= 0
        assert float(r["sme_mod.vision"]) <= float(r["sme_all.vision"])
        assert float(r["protocol.vision_only.nrmse_muted.joints"]) > 0
    with executor(executor_kind) as ex:
        again = run_sweep(mm_sweep(), ex, tmp_path)
    assert again.counts == {"skipped": 4} and not again.records


@pytest.mark.slow
def test_a_killed_study_resumes_from_its_checkpoints(tmp_path, executor_kind):
    epochs, every = 60, 10
    sweep = mm_sweep(epochs, every)
    done = []
    with executor(executor_kind, workers=1) as ex:
        thread = threading.Thread(target=lambda: done.append(run_sweep(sweep, ex, tmp_path)))
        thread.start()
        victim = wait_for(lambda: next((f for f in run_folders(tmp_path) if (f / "state.pt").exists()
                                        and read_meta(f).get("status") == "running"
                                        and len(read_metrics(f)) > 3), None))
        os.kill(read_meta(victim)["pid"], signal.SIGKILL)
        thread.join(300)
    assert done and done[0].statuses == {"finished": 4}
    for f in run_folders(tmp_path):
        assert_rows(f, epochs, every)
        assert_valid_measures(json.loads((f / "eval.json").read_text())["values"])
    sessions = read_meta(victim)["sessions"]
    assert len(sessions) >= 2 and sessions[-1]["start_step"] > 0  # resumed, not restarted


def test_the_evaluate_options_are_checked_before_anything_runs(tmp_path):
    from betavae.errors import BetavaeError

    for evaluate, message in (({"metrics": ["mig"]}, "mig: multimodal"), ({"metrics": ["protocols"], "seed": 3},
                                                                            "model.measures.eval_seed")):
        with pytest.raises(BetavaeError, match=message):
            mm_sweep(evaluate=evaluate).expand()
