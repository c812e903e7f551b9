"""The source's grid as a sweep (``bvae sweep sweep_vsa_grid``): the shipped files are the source's
table, a tiny grid trains, is evaluated and labelled on the local and the Ray executor, the
aggregate and the index hold the measures and the Good/Bad table, and a rerun skips everything."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from betavae.config import read_yaml
from betavae.errors import BetavaeError
from betavae.experiments.study import run_sweep
from betavae.experiments.sweep import load_sweep, sweep_from_dict
from betavae.shipped import shipped_path
from betavae.vsa.settings import EvalSettings
from betavae.vsa.study import SOURCE_ROWS, STAGE_DATA, is_good, settings_of, source_row, summarise

from ..experiments.test_sweep import executor
from .conftest import TINY_EVAL_OPTIONS, tiny_grid

# ------------------------------------------------------------------ the shipped files (no runs)


@pytest.mark.parametrize("name, steps, batch, lr", [("sweep_vsa_grid", {"pd": 1000, "psd": 1000}, 16, 5e-4),
                                                    ("sweep_vsa_grid_full", {"pd": 100_000, "psd": 150_000}, 64, 1e-4)])
def test_shipped_grids_are_the_source_table_times_three_seeds(name, steps, batch, lr):
    runs = load_sweep(shipped_path(name)).expand()
    assert len(runs) == 17 * 3
    found = {}
    for r in runs:
        c = r.config
        row = source_row(c)
        assert row is not None and c.name == f"vsa-row{row.id:02d}"
        assert c.data.kind == STAGE_DATA[row.stage] and c.data.seed == c.seed  # the seed seeds the data too
        assert (c.train.steps, c.train.batch_size, c.train.lr) == (steps[row.stage], batch, lr)
        found.setdefault(row.id, []).append(c.seed)
    assert found == {r.id: [0, 1, 2] for r in SOURCE_ROWS}
    assert [r.id for r in SOURCE_ROWS if r.reported == "Good"] == [14, 15, 16]


@pytest.mark.parametrize("name, steps", [("sweep_vsa_decisive", {"pd": 10_000, "psd": 10_000}),
                                         ("sweep_vsa_decisive_full", {"pd": 100_000, "psd": 150_000})])
def test_shipped_decisive_studies_are_rows_13_to_17_times_three_seeds_stopping_early(name, steps):
    """Issue #23: the source's Good rows (14, 15, 16) and their nearest Bad rows (13, 17) at the
    source's batch 64 and lr 1e-4, scored every 1,000 steps, stopping on vsa_good or collapse."""
    runs = load_sweep(shipped_path(name)).expand()
    assert len(runs) == 5 * 3
    found = {}
    for r in runs:
        c = r.config
        row = source_row(c)
        assert row is not None and c.name == f"vsa-row{row.id:02d}" and c.data.seed == c.seed
        assert (c.train.steps, c.train.batch_size, c.train.lr) == (steps[row.stage], 64, 1e-4)
        assert (c.train.eval_every, c.train.eval_metrics, c.train.stop_when) == (1000, ["vsa"], ["vsa_good", "collapse"])
        found.setdefault(row.id, []).append(c.seed)
    assert found == {13: [0, 1, 2], 14: [0, 1, 2], 15: [0, 1, 2], 16: [0, 1, 2], 17: [0, 1, 2]}
    assert {i: SOURCE_ROWS[i - 1].reported for i in found} == {13: "Bad", 14: "Good", 15: "Good", 16: "Good",
                                                              17: "Bad"}


def test_each_source_row_has_its_own_settings():
    keys = [(r.stage, r.image, r.reduction, r.kld, r.cosine) for r in SOURCE_ROWS]
    assert len(set(keys)) == len(keys) == 17


@pytest.mark.parametrize("evaluate, message", [
    ({"metrics": ["mig"]}, "metrics: options of the image metrics"),
    ({"n_itmes": 3}, "evaluate: vsa evaluation settings: unknown key 'n_itmes'"),
    ({"pd_iou": 1.5}, "pd_iou: Input should be less than or equal to 1"),
])
def test_a_vsa_sweep_checks_its_evaluate_options_before_anything_runs(evaluate, message):
    tree = read_yaml(shipped_path("sweep_vsa_grid"))
    tree["evaluate"] = evaluate
    with pytest.raises(BetavaeError, match=message):
        sweep_from_dict(tree, source="g").expand()


def test_an_image_sweep_refuses_vsa_settings():
    from ..conftest import tiny_tree

    with pytest.raises(BetavaeError, match=r"evaluate: unknown key\(s\) n_items for the image metrics"):
        sweep_from_dict({"base": tiny_tree(), "evaluate": {"n_items": 8}}).expand()


@pytest.mark.parametrize("tree", [
    {"seeds": [0, 1], "zip": [{"seed": [0, 1], "data.seed": [0, 1]}]},  # seeds twice
    {"grid": {"seed": [0, 1]}},
])
def test_seed_is_zipped_only_without_seeds(tree):
    from ..conftest import tiny_tree

    with pytest.raises(BetavaeError, match="seeds: \\[...\\]"):
        sweep_from_dict({"base": tiny_tree(), **tree})


# ------------------------------------------------------------------ the rule and the summary (known answers)


def test_the_good_bad_rule_at_its_thresholds():
    ev = EvalSettings()  # pd 0.8 / 0.8; psd 0.8 / 0.9 / 0.7
    pd = {"vsa.swap.iou": 0.8, "vsa.swap_acc.changed": 0.8}
    assert is_good("pd", pd, ev) is True
    assert is_good("pd", {**pd, "vsa.swap.iou": 0.7999}, ev) is False
    assert is_good("pd", {**pd, "vsa.swap_acc.changed": 0.79}, ev) is False
    psd = {"vsa.scene.iou": 0.8, "vsa.scene.count_acc": 0.9, "vsa.swap_acc.changed": 0.7}
    assert is_good("psd", psd, ev) is True
    assert is_good("psd", {**psd, "vsa.scene.count_acc": 0.89}, ev) is False
    assert is_good("psd", psd, EvalSettings(psd_swap=0.71)) is False
    assert is_good("sd", psd, ev) is None and is_good("pd", {"vsa.swap.iou": 1.0}, ev) is None


def test_summary_takes_the_majority_and_the_mean_and_sd_over_seeds():
    row14, row16 = SOURCE_ROWS[13], SOURCE_ROWS[15]
    recs = [{"row": row14, "step": 10, "vsa.good": g, "vsa.swap.iou": v, "log_sigma": -1.0}
            for g, v in [(True, 0.9), (True, 0.8), (False, 0.4)]]
    recs += [{"row": row16, "step": 10, "vsa.good": g, "vsa.scene.iou": 0.5} for g in (True, False)]
    a, b = summarise(recs)
    assert (a["id"], a["measured"], a["good_runs"], a["seeds"], a["reported"]) == (14, "Good", 2, 3, "Good")
    assert a["swap/scene IoU"] == pytest.approx(0.7) and a["swap/scene IoU sd"] == pytest.approx(np.std([0.9, 0.8, 0.4]))
    assert a["log σ"] == -1.0 and a["count acc"] is None
    assert (b["id"], b["measured"], b["swap/scene IoU"]) == (16, "Bad", 0.5)  # a tie is not a majority


def test_runs_without_a_verdict_decide_nothing():
    """A run judged with an untrusted classifier has no ``vsa.good``: Good needs a majority of the
    seeds Good, Bad needs that no majority is still possible, else the row has no verdict."""
    row = SOURCE_ROWS[13]

    def measured(*goods):
        recs = [{"row": row, "step": 10, **({} if g is None else {"vsa.good": g})} for g in goods]
        (line,) = summarise(recs)
        return line["measured"], line["good_runs"]

    assert measured(True, True, None) == ("Good", 2)
    assert measured(False, False, None) == ("Bad", 0)
    assert measured(True, False, None) == ("no verdict", 1)  # the third run could tip it either way
    assert measured(None, None) == ("no verdict", 0)
    assert measured(False, None) == ("Bad", 0)  # at best one of two: a tie is not a majority


# ------------------------------------------------------------------ a tiny grid on both executors


def index_table(index_md: Path) -> dict[int, list[str]]:
    """Row id -> cells of the index's Good/Bad table (Markdown)."""
    text = index_md.read_text()
    part = text[text.index("### Good/Bad by row"):]
    lines = [ln for ln in part.splitlines() if ln.startswith("| ") and ln[2:3].isdigit()]
    return {int(c[0]): c for c in ([x.strip() for x in ln.strip().strip("|").split("|")] for ln in lines)}


def test_a_tiny_grid_trains_evaluates_labels_then_skips(request, tmp_path, executor_kind):
    sweep = tiny_grid()
    if executor_kind[0] == "local":  # the grid the browser test shows too, run once per session
        tmp_path, first = request.getfixturevalue("tiny_grid_run")
    else:
        with executor(executor_kind, workers=2) as ex:
            first = run_sweep(sweep, ex, tmp_path)
    assert first.counts == {"train": 4} and first.statuses == {"finished": 4}
    rows = json.loads((tmp_path / "sweep.json").read_text())
    by_row: dict[int, list[dict]] = {}
    for r in rows:
        run = tmp_path / r["run_id"]
        stored = json.loads((run / "eval.json").read_text())
        values = stored["values"]
        assert stored["step"] == 2 and stored["settings"]["n_items"] == 8 and (run / "report.html").is_file()
        for key, v in values.items():  # the aggregate holds every measure of the run's eval.json
            assert r[key] == v, key
        assert r["data.seed"] == r["seed"] and r["step"] == 2
        stage = "pd" if r["data.kind"] == "paired_dsprites" else "psd"
        iou = values["vsa.swap.iou" if stage == "pd" else "vsa.scene.iou"]
        assert 0 <= iou <= 1 and 0 <= values["vsa.swap_acc.changed"] <= 1
        assert values["vsa.classifier.trusted"] is False and "vsa.good" not in values  # tiny classifier: no verdict
        assert is_good(stage, values, EvalSettings(**TINY_EVAL_OPTIONS)) in (True, False)  # the rule itself has its inputs
        assert ("vsa.scene.count_acc" in values) == (stage == "psd") == ("vsa.scene.count_confusion" in stored["tables"])
        row = source_row(read_config(run))
        by_row.setdefault(row.id, []).append({**values, "step": 2, "row": row})
    assert sorted(by_row) == [14, 16]
    with open(tmp_path / "sweep.csv") as f:
        header = next(csv.reader(f))
    assert {"vsa.swap.iou", "vsa.swap_acc.changed", "vsa.scene.iou", "vsa.scene.count_acc", "vsa.collapsed",
            "objective.kld", "data.kind"} <= set(header) and "vsa.good" not in header
    table = index_table(tmp_path / "index.md")
    assert sorted(table) == [14, 16]
    for row_id, recs in by_row.items():
        cells = table[row_id]
        ious = [r["vsa.swap.iou" if row_id == 14 else "vsa.scene.iou"] for r in recs]
        assert cells[6:10] == ["Good", "no verdict", "0/2", "2"]  # both runs judged by an untrusted classifier
        assert cells[10] == f"{np.mean(ious):.3f}±{np.std(ious):.3f}"
    assert "Good/Bad by row (spec §6)" in (tmp_path / "index.html").read_text()
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/eval.json")}
    with executor(executor_kind) as ex:
        second = run_sweep(sweep, ex, tmp_path)
    assert second.counts == {"skipped": 4} and second.records == []
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/eval.json")} == mtimes


def read_config(run: Path):
    from betavae.experiments.rundir import read_run_config

    return read_run_config(run)


def test_settings_of_a_run_config():
    run = load_sweep(shipped_path("sweep_vsa_grid")).expand()[15 * 3]
    assert settings_of(run.config) == ("psd", "bce", "sum", 0.01, 1.0) and source_row(run.config).id == 16
