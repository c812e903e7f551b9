"""The cross-modal study as a sweep (issue #19): a tiny version of sweep_crossmodal_study on both
executors (Ray: in the loopback namespace, through test_ray.py's ``-m ray`` run)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from betavae.experiments.rundir import read_meta, read_metrics
from betavae.experiments.study import run_sweep
from betavae.experiments.sweep import load_sweep, sweep_from_dict
from betavae.shipped import shipped_path

from .test_sweep import executor

#: 1 set × 2 voices × 50 rows of pseudo-speech, 64-px video; 8 rows a batch, 2 epochs
TINY_DATA = {"data.n_sets": 1, "data.n_voices": 2, "data.img_size": 64, "data.speech": "tones",
             "train.batch_size": 8, "train.epochs": 2, "train.checkpoint_every": 2, "name": "xm"}
GROUPS = ["reconstruction", "translation", "baseline"]


def tiny_study(**evaluate):
    """Symbol split × strategies 1 and 6, and pen held out (strategy 6), seeds 0 and 1, two
    seeds trained as one model: 6 runs in 3 ensembles."""
    return sweep_from_dict({
        "name": "xm", "base": "crossmodal_separate", "set": TINY_DATA,
        "grid": [{"data.protocol": "symbol", "objective.strategy": [1, 6]},
                 {"data.protocol": "compositional", "data.held_out": "pen", "objective.strategy": 6}],
        "seeds": [0, 1], "ensemble": 2, "report": True,
        "evaluate": {"metrics": GROUPS, "translator": {"epochs": 5}, "baseline": {"epochs": 2}, **evaluate}})


def test_shipped_study_sweeps_expand_to_the_thesis_design():
    for name, rows in (("sweep_crossmodal_study", 600), ("sweep_crossmodal_study_full", 36_000)):
        sweep = load_sweep(shipped_path(name))
        runs = sweep.expand()
        symbol = [r for r in runs if r.config.data.protocol == "symbol"]
        comp = [r for r in runs if r.config.data.protocol == "compositional"]
        assert len(symbol) == 9 * 2 * 3 and len(comp) == 5 * 2 * 3  # strategies/objects × variants × seeds
        assert sorted({r.config.objective.strategy for r in symbol}) == list(range(1, 10))
        assert {r.config.objective.strategy for r in comp} == {6}
        assert sorted({str(r.config.data.held_out) for r in comp}) == ["fork", "knife", "pen", "phone", "spoon"]
        d = runs[0].config.data
        assert d.n_sets * d.n_voices * 50 == rows and sweep.spec.ensemble == 3
        assert sweep.spec.evaluate.model_dump()["metrics"] == GROUPS


def test_shipped_phoneme_sweeps_are_the_studys_separate_strategy_6_runs_on_phoneme_tokens():
    for name, rows in (("sweep_crossmodal_phonemes", 600), ("sweep_crossmodal_phonemes_full", 36_000)):
        sweep = load_sweep(shipped_path(name))
        runs = sweep.expand()
        assert len(runs) == 6 * 3 and sweep.spec.ensemble == 3
        assert {(r.config.data.tokens, r.config.model.variant, r.config.objective.strategy) for r in runs} == {
            ("phonemes", "separate", 6)}
        assert sorted(str(r.config.data.held_out) for r in runs if r.config.data.protocol == "compositional") == sorted(
            ["fork", "knife", "pen", "phone", "spoon"] * 3)
        d = runs[0].config.data
        assert d.n_sets * d.n_voices * 50 == rows
        study = load_sweep(shipped_path(name.replace("phonemes", "study"))).spec.evaluate.model_dump()
        assert sweep.spec.evaluate.model_dump() == study  # measured exactly as the study's runs


def test_evaluate_options_are_checked_when_the_sweep_expands():
    from betavae.errors import BetavaeError

    with pytest.raises(BetavaeError, match="measured with metrics from reconstruction, translation, baseline"):
        tiny_study(metrics=["mig"]).expand()
    with pytest.raises(BetavaeError, match="unknown key 'translatr'"):
        tiny_study(translatr={"epochs": 1}).expand()


def test_tiny_study_runs_measures_aggregates_indexes_then_skips(request, tmp_path, executor_kind):
    sweep = tiny_study()
    if executor_kind[0] == "local":  # the study the browser test shows too, run once per session
        tmp_path, first = request.getfixturevalue("tiny_crossmodal_study_run")
    else:
        with executor(executor_kind, workers=2) as ex:
            first = run_sweep(sweep, ex, tmp_path)
    assert first.counts == {"train": 6} and first.statuses == {"finished": 6}
    assert len(first.records) == 3 and all(len(r["members"]) == 2 for r in first.records)  # trained in pairs
    rows = {r["run_id"]: r for r in json.loads((tmp_path / "sweep.json").read_text())}
    values = {}
    for run_id, row in rows.items():
        run_dir = tmp_path / run_id
        assert len(read_meta(run_dir)["ensemble"]["members"]) == 2
        ev = json.loads((run_dir / "eval.json").read_text())
        v = values[run_id] = ev["values"]
        history = read_metrics(run_dir)
        assert [r["epoch"] for r in history] == [1, 2]
        # Table 2's train/val accuracy: the epoch means of the logged accuracies, in percent
        assert v["train_acc_epochmean"] == pytest.approx(100 * np.mean([r["train_acc"] for r in history]))
        assert v["val_acc_epochmean"] == pytest.approx(100 * np.mean([r["val_acc"] for r in history]))
        assert v["test_cos_dist_sampled"] == pytest.approx(100 - v["test_acc_sampled"])
        for key in ("test_acc_sampled", "test_acc_mean", "val_acc_mean"):
            assert 0 < v[key] <= 100, key
        for part in ("words", "words_real_audio", "controls.mean.words", "baseline.words"):
            for what in ("object", "action", "pair"):
                assert 0 <= v[f"{part}.{what}"] <= 100
                assert v[f"{part}.pair"] <= min(v[f"{part}.object"], v[f"{part}.action"]) + 1e-9
        assert 0 <= v["translation.cos_dist"] <= 200 and v["translation.mse"] >= 0
        # both protocols hold out whole (object, action) pairs: no held-out pair can be retrieved
        assert v["retrieval.nearest.pair"] == 0 and v["retrieval.centroid.pair"] == 0
        assert ev["records"][0]["translator_seed"] == row["seed"]
        # the aggregate carries every flat value
        assert row["test_acc_sampled"] == v["test_acc_sampled"] and row["words.pair"] == v["words.pair"]
    by_cell = {}
    for run_id, row in rows.items():
        key = (row["data.protocol"], row["seed"])
        by_cell.setdefault(key, []).append(values[run_id])
    for cell in by_cell.values():  # the listener and the raw baseline depend on the split and seed only
        assert len({c["words_real_audio.pair"] for c in cell}) == 1
        assert len({c["baseline.translation.mse"] for c in cell}) == 1
    header = next(csv.reader((tmp_path / "sweep.csv").open()))
    for column in ("objective.strategy", "data.protocol", "test_acc_sampled", "translation.cos_dist",
                   "words.pair", "baseline.translation.cos_dist"):
        assert column in header
    index = (tmp_path / "index.md").read_text()
    for text in ("Table 2: β schedules, separate variant", "6. Gradual Ramp-Up", "74.55",  # thesis Table 2
                 "Table 3: symbol grounding", "0.17", "Table 4: held-out object 0 (pen)", "Retrieval accuracy"):
        assert text in index
    t2 = next(line for line in index.splitlines() if line.startswith("| 1. Linear Scheduling"))
    s1 = [v for r, v in values.items() if rows[r]["objective.strategy"] == 1]
    mean, sd = np.mean([v["test_acc_sampled"] for v in s1]), np.std([v["test_acc_sampled"] for v in s1], ddof=1)
    assert f"{mean:.2f} ± {sd:.2f}" in t2  # Table 2's cell: mean ± s.d. over the two seeds
    assert all((tmp_path / r / "report.html").is_file() for r in rows)
    with executor(executor_kind) as ex:
        again = run_sweep(sweep, ex, tmp_path)
    assert again.counts == {"skipped": 6} and not again.records
