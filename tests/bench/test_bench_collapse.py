"""bench/bench_collapse.py: the step it reports, the summary table, and resuming its output folder."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .scripts import load_bench


def load_script():
    return load_bench("bench_collapse")


def result(setting, init, seed, left_at, budget=3000):
    return {"setting": setting, "init": init, "seed": seed, "left_at": left_at, "budget": budget}


def test_first_below_is_the_first_logged_step_under_the_threshold():
    bench = load_script()
    rows = [{"step": 50, "recon": 560.0}, {"step": 100, "recon": 399.9}, {"step": 150, "recon": 120.0}]
    assert bench.first_below(rows, 400) == 100
    assert bench.first_below(rows, 100) is None
    assert bench.first_below(rows[:1], 560.0) is None  # strictly below


def test_summary_median_range_and_ratio_with_a_run_that_never_left():
    bench = load_script()
    results = [result("s", "torch", i, v) for i, v in enumerate([2000, 2200, None, 1800, 2400])]
    results += [result("s", "kaiming_uniform", i, v) for i, v in enumerate([900, 1000, 1100, 800, 1200])]
    rows = {r["init"]: r for r in bench.summarise(results)}
    torch_row, kaiming = rows["torch"], rows["kaiming_uniform"]
    assert torch_row["steps"] == [2000, 2200, None, 1800, 2400]
    assert torch_row["median"] == 2200 and torch_row["left"] == 4  # None counts as the budget, 3000
    assert (torch_row["min"], torch_row["max"]) == (1800, 3000)
    assert kaiming["median"] == 1000 and kaiming["speedup"] == 2.2 and torch_row["speedup"] == 1.0
    table = bench.format_table(bench.summarise(results))
    assert "| s | torch | s0: 2000, s1: 2200, s2: >3000, s3: 1800, s4: 2400 | 4/5 | 2200 | 1800–>3000 | 1.00× |" in table
    assert "| s | kaiming_uniform | s0: 900, s1: 1000, s2: 1100, s3: 800, s4: 1200 | 5/5 | 1000 | 800–1200 | 2.20× |" in table


def test_a_median_of_runs_that_never_left_is_a_lower_bound():
    bench = load_script()
    results = [result("s", "torch", i, v) for i, v in enumerate([None, None, 500])]
    results += [result("s", "kaiming_uniform", i, v) for i, v in enumerate([600, 800, 700])]
    rows = bench.summarise(results)
    table = bench.format_table(rows)
    assert "| s | torch | s0: >3000, s1: >3000, s2: 500 | 1/3 | ≥3000 | 500–>3000 | 1.00× |" in table
    # torch's median is at least 3000, so the ratio 3000 / 700 is at least 4.29
    assert "| s | kaiming_uniform | s0: 600, s1: 800, s2: 700 | 3/3 | 700 | 600–800 | ≥4.29× |" in table


def test_one_run_stops_when_it_leaves_records_init_and_is_not_run_twice(tmp_path, capsys):
    bench = load_script()
    out = tmp_path / "bench"
    args = ["--out", str(out), "--settings", "dsprites_quick", "--inits", "kaiming_uniform", "--seeds", "1",
            "--budget", "6", "--log-every", "2", "--threshold", "1e9", "--jobs", "1", "--speed", "plain"]
    bench.main(args)
    saved = json.loads((out / "results" / "dsprites_quick--kaiming_uniform--s1.json").read_text())
    assert saved["left_at"] == 2 and saved["steps_run"] == 2  # stopped at the first log: recon < 1e9
    assert [r["step"] for r in saved["rows"]] == [2]
    config = yaml.safe_load((Path(saved["run"]) / "config.yaml").read_text())
    assert config["model"]["init"] == "kaiming_uniform" and config["seed"] == 1
    assert config["train"]["threads"] == 1 and config["objective"]["kind"] == "beta"
    capsys.readouterr()
    bench.main(args)
    printed = capsys.readouterr().out
    assert "runs to do" not in printed  # resumed: nothing left to run
    assert "| dsprites_quick | kaiming_uniform | s1: 2 | 1/1 | 2 | 2–2 | — |" in printed
    assert (out / "table.md").read_text().strip() == printed.strip()
