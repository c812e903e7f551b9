"""The lessons of the large studies on a synthetic sweep whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from betavae.report.lessons import (
    choices,
    holm,
    rank_correlations,
    setting_intervals,
    sweep_lessons,
    variance_shares,
    welch,
)

BETA_EFFECT = {1.0: 0.2, 4.0: 0.6}
SEED_EFFECT = {0: -0.1, 1: 0.0, 2: 0.1}


def sweep():
    """2 β × 2 learning rates × 3 seeds. MIG = β effect + seed effect (no learning-rate effect);
    DCI = −MIG (the metrics disagree completely); SAP follows the seed only."""
    rows = []
    for beta in (1.0, 4.0):
        for lr in (1e-4, 1e-3):
            for seed in (0, 1, 2):
                mig = BETA_EFFECT[beta] + SEED_EFFECT[seed]
                rows.append({"run": f"b{beta}-lr{lr}-s{seed}", "seed": seed,
                             "hyper": {"beta": beta, "lr": lr},
                             "eval": {"mig": mig, "dci.disentanglement": -mig, "sap": SEED_EFFECT[seed]}})
    return rows


def test_variance_shares_known_answer():
    rows = sweep()
    shares = variance_shares(rows, "mig", ["beta", "lr"])
    # SS_beta = 12 * 0.2^2 = 0.48, SS_seed = 4 * (0.01 + 0 + 0.01) = 0.08, SS_lr = 0
    assert shares["beta"] == pytest.approx(0.48 / 0.56)
    assert shares["seed"] == pytest.approx(0.08 / 0.56)
    assert shares["lr"] == pytest.approx(0.0, abs=1e-12)
    assert shares["interaction"] == pytest.approx(0.0, abs=1e-12)
    sap = variance_shares(rows, "sap", ["beta", "lr"])
    assert sap["seed"] == pytest.approx(1.0) and sap["beta"] == pytest.approx(0.0, abs=1e-12)


def test_rank_correlations_known_answer():
    rows = sweep()
    rho = np.array(rank_correlations(rows, ["mig", "dci.disentanglement", "sap"]))
    assert rho[0, 0] == pytest.approx(1.0) and rho[0, 1] == pytest.approx(-1.0)
    # SAP ranks the runs by seed alone: spearman of (beta + seed, seed) over the 12 runs
    mig = [r["eval"]["mig"] for r in rows]
    sap = [r["eval"]["sap"] for r in rows]
    assert rho[0, 2] == pytest.approx(stats.spearmanr(mig, sap)[0])


def test_choices_udr_versus_supervised():
    rows = sweep()
    udr = {r["run"]: (1.0 if r["run"] == "b1.0-lr0.0001-s0" else 0.5) for r in rows}
    c = choices(rows, ["mig", "dci.disentanglement"], udr)
    assert c["by_metric"]["mig"].startswith("b4.0") and c["by_metric"]["mig"].endswith("s2")
    assert c["by_metric"]["dci.disentanglement"].startswith("b1.0") and c["udr"] == "b1.0-lr0.0001-s0"
    # UDR's pick has the lowest MIG (0.1, shared with one other run): rank 11 of 12
    assert c["udr_rank"]["mig"] == 11 and c["udr_value"]["mig"] == pytest.approx(0.1)


def test_setting_intervals_known_answer():
    rows = sweep()
    intervals = setting_intervals(rows, "mig", ["beta", "lr"], confidence=0.95)
    assert len(intervals) == 4 and all(i["n"] == 3 for i in intervals)
    first = next(i for i in intervals if i["setting"] == {"beta": 4.0, "lr": 1e-3})
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # the seed values' sd is 0.1
    assert first["mean"] == pytest.approx(0.6)
    assert (first["low"], first["high"]) == pytest.approx((0.6 - half, 0.6 + half))
    single = setting_intervals(rows[:1], "mig", ["beta"])
    assert single[0]["n"] == 1 and single[0]["low"] is None


def test_sweep_lessons_collects_everything():
    lessons = sweep_lessons(sweep(), {"b4.0-lr0.001-s2": 0.9})
    assert lessons["hypers"] == ["beta", "lr"]
    assert lessons["metrics"] == ["mig", "dci.disentanglement", "sap"]
    assert lessons["choices"]["udr"] == "b4.0-lr0.001-s2" and lessons["choices"]["udr_rank"]["mig"] == 1


def test_index_shows_the_lessons_and_udr_choice(runs_folder, tmp_path, capsys):
    """The three tiny runs of the report fixture: β = 1 (MIG 0.1), β = 4 seeds 0 and 1 (0.2, 0.3)."""
    import shutil

    from betavae.cli import main
    from betavae.report import write_index

    folder = tmp_path / "sweep"
    shutil.copytree(runs_folder, folder)
    html = write_index(folder).read_text()
    assert "What this sweep says" in html and "No udr.json" in html
    # SS_total = 0.02, SS_beta = 0.015 (75 %), within-setting SS = 0.005 (25 %)
    row = next(line for line in html.splitlines() if line.startswith("<tr><td>mig</td>") and "%" in line)
    assert "<td>75 %</td>" in row and "<td>25 %</td>" in row
    assert main(["eval", str(folder), "--udr", "--udr-points", "60"]) == 0
    out = capsys.readouterr().out
    assert out.count("(against") == 3 and "wrote" in out
    html = write_index(folder).read_text()
    assert "UDR (no labels) would choose <b>" in html
    md = (folder / "index.md").read_text()
    assert "## What this sweep says" in md and "| mig | 75 % | 25 % | 0 % |" in md


def test_run_report_shows_bootstrap_intervals(runs_folder, tmp_path):
    import json
    import shutil

    from betavae.report import write_report

    run = next(p for p in sorted(runs_folder.iterdir()) if (p / "config.yaml").is_file())
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    (copy / "eval.json").write_text(json.dumps({"values": {"mig": 0.25, "sap": 0.1},
                                                "intervals": {"mig": [0.2, 0.3125]}}))
    html = write_report(copy, n_images=16, n_seeds=1).read_text()
    assert "95 % interval" in html and "<td>[0.2, 0.3125]</td>" in html
    md = (copy / "report.md").read_text()
    assert "| mig | 0.25 | [0.2, 0.3125] |" in md and "| sap | 0.1 | — |" in md


def test_one_seed_per_setting_says_the_seed_share_cannot_be_told_and_few_runs_have_no_correlation():
    from betavae.report.lessons import sweep_lessons, variance_shares

    rows = [{"run": "a", "hyper": {"beta": 1.0}, "eval": {"mig": 0.1}},
            {"run": "b", "hyper": {"beta": 4.0}, "eval": {"mig": 0.3}}]
    lessons = sweep_lessons(rows)
    assert lessons["replicated"] is False and lessons["runs"] == 2
    assert variance_shares(rows, "mig", ["beta"]) == {}  # not 100 % β / 0 % seed: unidentifiable
    rows.append({"run": "c", "hyper": {"beta": 4.0}, "eval": {"mig": 0.5}})  # a second seed of β = 4
    shares = variance_shares(rows, "mig", ["beta"])
    assert sweep_lessons(rows)["replicated"] is True
    # y = (0.1, 0.3, 0.5), mean 0.3: SS_total 0.08; β groups {0.1}, {0.3, 0.5}: SS_between 0.06
    assert shares["beta"] == pytest.approx(0.75) and shares["seed"] == pytest.approx(0.25)


def test_welch_and_holm_at_known_points():
    w = welch([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    # se = √(1/3 + 0), Welch df = (1/3)² / ((1/3)²/2) = 2, t = 1/√(1/3) = √3
    assert w["diff"] == pytest.approx(1.0) and w["df"] == pytest.approx(2.0) and w["t"] == pytest.approx(math.sqrt(3))
    assert w["p"] == pytest.approx(2 * stats.t.sf(math.sqrt(3), 2)) == pytest.approx(0.2254, abs=1e-4)
    assert (w["lo"], w["hi"]) == pytest.approx((1 - 4.302652729911275 / math.sqrt(3), 1 + 4.302652729911275 / math.sqrt(3)))
    a, b = [0.3, 0.5, 0.4, 0.6], [0.1, 0.2, 0.15]
    assert welch(a, b)["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    # Holm: sorted 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → kept non-decreasing at 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
