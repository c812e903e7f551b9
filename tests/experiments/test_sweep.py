"""Sweeps: expansion, skip/resume by run id, failures as data, the lock, and the faults a sweep
survives (killed worker, killed driver) — one suite for the local and the Ray executor."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from betavae.cli import main
from betavae.config import load_config
from betavae.errors import BetavaeError
from betavae.experiments.executors import make_executor
from betavae.experiments.lock import SweepLock, is_training
from betavae.experiments.rundir import read_meta, read_metrics
from betavae.experiments.study import run_sweep
from betavae.experiments.sweep import load_sweep, sweep_from_dict

from ..conftest import tiny_tree

TINY_EVAL = {"metrics": ["mig"], "sizes": {"num_train": 200, "num_test": 100}}


def tiny_sweep(grid=None, seeds=(0,), evaluate=None, report=False, **train):
    return sweep_from_dict({"name": "t", "base": tiny_tree(**train), "grid": grid or {},
                            "seeds": list(seeds), "evaluate": evaluate, "report": report})


def executor(kind_opts, workers=1):
    kind, opts = kind_opts
    return make_executor(kind, workers, 1, 2, **opts)


def run_folders(runs_dir: Path) -> list[Path]:
    """Every folder of the sweep directory but the lock folder and the index figures."""
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and p.name not in (".locks", "index"))


def assert_complete(runs_dir: Path, n: int, steps: int) -> None:
    """n run folders, each finished, with every logged step exactly once."""
    folders = run_folders(runs_dir)
    assert len(folders) == n
    for f in folders:
        assert read_meta(f)["status"] == "finished"
        assert [r["step"] for r in read_metrics(f)] == list(range(2, steps + 1, 2))


# ------------------------------------------------------------------ expansion (no runs)


def test_expansion_grid_zip_blocks_seeds():
    sweep = sweep_from_dict({"base": tiny_tree(), "seeds": [0, 1],
                             "grid": {"objective.beta": [1, 4, 8], "model.latent_dim": [3, 5]},
                             "zip": [{"train.lr": [1e-3, 1e-4], "train.batch_size": [8, 16]}]})
    runs = sweep.expand()
    assert len(runs) == 3 * 2 * 2 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    assert {(r.config.train.lr, r.config.train.batch_size) for r in runs} == {(1e-3, 8), (1e-4, 16)}
    assert [r.run_id for r in runs] == [r.run_id for r in sweep.expand()]  # stable names
    blocks = sweep_from_dict({"base": tiny_tree(), "grid": [
        {"objective.beta": [1, 2]},
        {"objective": {"kind": "capacity", "gamma": 100, "capacity": {"kind": "capacity", "c_max": 5}},
         "objective.capacity.c_max": [5, 10, 25]}]}).expand()
    assert [r.config.objective.kind for r in blocks] == ["beta"] * 2 + ["capacity"] * 3
    assert [r.config.objective.capacity.c_max for r in blocks[2:]] == [5, 10, 25]


def test_ensemble_groups_put_objectives_with_state_alone():
    """``ensemble: 4`` over 2 seeds of 6 objectives: the stateless ones (β, capacity, β-TCVAE) share
    groups of at most 4 in plan order; learned β, FactorVAE, per-latent and pairwise β (parameters,
    buffers or an optimiser of their own) are groups of one."""
    from betavae.experiments.study import ensemble_groups

    objectives = [{"kind": "beta", "beta": 4}, {"kind": "learned", "lr": 0.01},
                  {"kind": "capacity", "gamma": 20, "capacity": {"kind": "capacity", "c_max": 5, "length": 10}},
                  {"kind": "factorvae", "gamma": 10, "disc_hidden": 8, "disc_layers": 2},
                  {"kind": "per_latent"}, {"kind": "pairwise"}, {"kind": "betatcvae", "beta": 6}]
    sweep = sweep_from_dict({"base": tiny_tree(), "seeds": [0, 1], "ensemble": 4,
                             "grid": [{"objective": o} for o in objectives]})
    runs = sweep.expand()
    groups = ensemble_groups(runs, 4)
    kinds = [[r.config.objective.kind for r in g] for g in groups]
    stateless = [k for k in kinds if len(k) > 1]
    assert stateless == [["beta", "beta", "capacity", "capacity"], ["betatcvae", "betatcvae"]]
    alone = sorted(k[0] for k in kinds if len(k) == 1)
    assert alone == sorted(["learned", "factorvae", "per_latent", "pairwise"] * 2)
    assert sorted(r.run_id for g in groups for r in g) == sorted(r.run_id for r in runs)
    assert ensemble_groups(runs, 1) == [[r] for r in runs]


@pytest.mark.parametrize("tree, message", [
    ({"zip": [{"train.lr": [1, 2], "train.steps": [1]}]}, "equal lengths"),
    ({"grid": {"train.stepz": [1, 2]}}, "unknown key 'train.stepz'"),
    ({"grid": {"seed": [1, 2]}}, "seeds: [...]"),
    ({"grdi": {}}, "unknown key 'grdi'"),
    ({"grid": {"train.steps": [10, -1]}}, "train.steps=-1"),
])
def test_bad_sweep_files_say_what_is_wrong(tree, message):
    with pytest.raises(BetavaeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        sweep_from_dict({"base": tiny_tree(), **tree}).expand()


SHIPPED_CONFIGS = Path(__file__).parents[2] / "src/betavae/configs"
SHIPPED_SWEEPS = sorted(p.stem for p in SHIPPED_CONFIGS.glob("sweep_*.yaml"))


def test_shipped_study_configs_expand():
    root = SHIPPED_CONFIGS
    study = load_sweep(root / "sweep_dsprites_study.yaml")
    runs = study.expand()
    assert len(runs) == (6 + 4) * 3
    assert sorted({r.config.objective.kind for r in runs}) == ["beta", "capacity"]
    assert len(load_sweep(root / "sweep_dsprites_study_full.yaml").expand()) == (6 + 4) * 50
    burgess = load_sweep(root / "sweep_dsprites_study_burgess.yaml").expand()
    def grid(rs):  # (seed, kind, β or C_max) of each run
        return [(r.config.seed, o.kind, o.beta if o.kind == "beta" else o.capacity.c_max)
                for r in rs for o in [r.config.objective]]

    assert grid(burgess) == grid(runs)  # the published variant: the same grid, only γ differs
    assert {r.config.objective.gamma.bounds() for r in burgess if r.config.objective.kind == "capacity"} == {(1000, 1000)}


@pytest.mark.parametrize("study", ["sweep_dsprites_study", "sweep_dsprites_study_full"])
def test_shipped_studies_train_capacity_with_the_shipped_gamma(study):
    """The studies' capacity runs use dsprites_capacity's γ (20: it trains here), not Burgess's 1000,
    which never leaves the mean image on this model (docs/speed.md); C_max is the grid."""
    gamma = load_config(SHIPPED_CONFIGS / "dsprites_capacity.yaml").objective.gamma
    capacity = [r.config.objective for r in load_sweep(SHIPPED_CONFIGS / f"{study}.yaml").expand()
                if r.config.objective.kind == "capacity"]
    assert gamma.bounds() == (20, 20)
    assert len(capacity) > 0 and all(o.gamma == gamma for o in capacity)
    assert sorted({o.capacity.c_max for o in capacity}) == [5, 10, 25, 50]


def test_shipped_correlated_study_design():
    """sweep_correlated_study (and _full, and the pilot): the seven arms × (strength 5, 2.5, independent),
    settings that train (C_t reaches its maximum within the run; learned β has its own learning rate),
    the pilot's seed not among the reported ones, and the full size the same design at 300,000 steps."""
    def design(name):
        runs = load_sweep(SHIPPED_CONFIGS / f"{name}.yaml").expand()
        cells = {(getattr(r.config.data, "pairs", [None])[0], r.config.objective.kind) for r in runs}
        strengths = sorted({p.strength if p else 0.0 for p, _ in cells})
        return runs, strengths, {k for _, k in cells}

    arms = {"beta", "capacity", "betatcvae", "factorvae", "per_latent", "pairwise", "learned"}
    study, strengths, kinds = design("sweep_correlated_study")
    assert strengths == [0.0, 2.5, 5.0] and kinds == arms and len(study) == 3 * 7 * 5
    full, full_strengths, full_kinds = design("sweep_correlated_study_full")
    assert full_strengths == strengths and full_kinds == arms and len(full) == 3 * 7 * 10
    assert {r.config.train.steps for r in full} == {300_000}
    pilot, _, pilot_kinds = design("sweep_correlated_pilot")
    assert arms <= pilot_kinds
    assert not {r.config.seed for r in pilot} & {r.config.seed for r in study + full}
    for runs in (study, full):
        for r in runs:
            o, steps = r.config.objective, r.config.train.steps
            if o.kind == "capacity":
                assert o.capacity.length < steps and o.capacity.c_max > 0 and o.gamma.bounds() == (20, 20)
            if o.kind == "learned":
                assert o.lr is not None and o.lr > r.config.train.lr


@pytest.mark.parametrize("name", SHIPPED_SWEEPS)
def test_every_shipped_sweep_resolves_with_dry_run(name, tmp_path, capsys):
    """``bvae sweep NAME --dry-run`` lists every run of every shipped sweep as still to train."""
    n = len(load_sweep(SHIPPED_CONFIGS / f"{name}.yaml").expand())
    assert main(["sweep", name, "--dry-run", "--runs-dir", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == n > 0
    assert all(line.split()[1] == "train" for line in lines)
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing


# ------------------------------------------------------------------ both executors


def test_runs_evaluates_aggregates_then_skips(tmp_path, executor_kind):
    sweep = tiny_sweep({"objective.beta": [1, 4]}, seeds=(0, 1), evaluate=TINY_EVAL)
    with executor(executor_kind) as ex:  # one executor for both sweeps (its workers start once)
        first = run_sweep(sweep, ex, tmp_path)
        assert first.counts == {"train": 4} and len(first.records) == 4
        assert first.statuses == {"finished": 4}
        rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
        assert len(rows) == 4 == len(json.loads((tmp_path / "sweep.json").read_text()))
        assert sorted(r["objective.beta"] for r in rows) == ["1", "1", "4", "4"]
        assert all(0 <= float(r["mig"]) <= 1 and float(r["loss"]) > 0 and r["step"] == "12" for r in rows)
        assert_complete(tmp_path, 4, 12)
        (tmp_path / rows[0]["run_id"] / "eval.json").unlink()
        second = run_sweep(sweep, ex, tmp_path)
    assert second.counts == {"skipped": 3, "evaluate": 1} and len(second.records) == 1
    assert (tmp_path / rows[0]["run_id"] / "eval.json").is_file()
    assert len(run_folders(tmp_path)) == 4


def test_evaluate_breakdown_writes_the_per_factor_and_per_pair_scores(tmp_path):
    """``evaluate: {breakdown: true}`` reaches the image evaluator: eval.json gains the breakdown,
    whose MIG terms average to the run's MIG (docs/metrics.md), and a pair entry per factor pair."""
    sweep = tiny_sweep(evaluate={**TINY_EVAL, "breakdown": True})
    with make_executor("local", 1, 1, 2) as ex:
        out = run_sweep(sweep, ex, tmp_path)
    assert out.statuses == {"finished": 1}
    result = json.loads((run_folders(tmp_path)[0] / "eval.json").read_text())
    terms = {k: v for k, v in result["breakdown"].items() if k.startswith("mig[")}
    assert len(terms) == 5  # the five varying dSprites factors
    assert sum(terms.values()) / len(terms) == pytest.approx(result["values"]["mig"])
    assert "mig.shared[posX,posY]" in result["breakdown"]
    assert sweep.spec.evaluate.breakdown and not tiny_sweep(evaluate=TINY_EVAL).spec.evaluate.breakdown


def test_failures_are_recorded_and_the_rest_continue(tmp_path, executor_kind):
    sweep = tiny_sweep([{"train.lr": [1e-3]}, {"train.lr": [1e4]},
                        {"data.path": ["/nonexistent/dsprites.npz"]}])
    with executor(executor_kind) as ex:
        out = run_sweep(sweep, ex, tmp_path)
    assert out.statuses == {"finished": 1, "failed": 2}
    rows = {r["run_id"]: r for r in csv.DictReader((tmp_path / "sweep.csv").open())}
    failed = [r for r in rows.values() if r["status"] == "failed"]
    assert sorted("NaN" in r["error"] or "no such file" in r["error"] for r in failed) == [True, True]
    assert all(r["traceback"].startswith("Traceback") for r in failed)
    assert all(not r["error"] for r in rows.values() if r["status"] == "finished")
    with executor(executor_kind) as ex:
        again = run_sweep(sweep, ex, tmp_path)
        assert again.counts == {"skipped": 1, "failed (not retried)": 2} and not again.records
        retried = run_sweep(sweep, ex, tmp_path, retry_failed=True)
    assert retried.counts == {"skipped": 1, "failed": 2}
    assert [r["status"] for r in retried.records] == ["failed", "failed"]


@pytest.mark.slow  # 11-13 s; the default suite keeps the exact-resume tests of each system
def test_a_killed_worker_is_resumed(tmp_path, executor_kind):
    steps = 40
    sweep = tiny_sweep(seeds=(0, 1), steps=steps)
    done = []
    with executor(executor_kind, workers=2) as ex:
        thread = threading.Thread(target=lambda: done.append(run_sweep(sweep, ex, tmp_path)))
        thread.start()
        victim = wait_for(lambda: next((f for f in run_folders(tmp_path) if (f / "state.pt").exists()
                                        and read_meta(f).get("status") == "running"), None))
        os.kill(read_meta(victim)["pid"], signal.SIGKILL)
        thread.join(120)
    assert done and done[0].statuses == {"finished": 2}
    assert_complete(tmp_path, 2, steps)
    sessions = read_meta(victim)["sessions"]
    assert len(sessions) >= 2 and sessions[-1]["start_step"] > 0  # resumed, not restarted


@pytest.mark.slow
def test_ensemble_trains_seeds_together_and_a_killed_ensemble_resumes_as_one(tmp_path, executor_kind):
    """``ensemble: 2`` over 3 seeds x 2 betas: β is part of the objective, so all 6 runs are one
    family (the same config but seed and objective), trained in 3 chunks of 2 members."""
    steps = 40
    sweep = sweep_from_dict({"name": "t", "base": tiny_tree(steps=steps), "grid": {"objective.beta": [1, 4]},
                             "seeds": [0, 1, 2], "evaluate": None, "report": False, "ensemble": 2})
    done = []
    with executor(executor_kind, workers=1) as ex:
        thread = threading.Thread(target=lambda: done.append(run_sweep(sweep, ex, tmp_path)))
        thread.start()
        victim = wait_for(lambda: next((f for f in run_folders(tmp_path) if (f / "state.pt").exists()
                                        and read_meta(f).get("status") == "running"), None))
        os.kill(read_meta(victim)["pid"], signal.SIGKILL)
        thread.join(180)
    assert done and done[0].statuses == {"finished": 6} and len(done[0].records) == 3
    assert all(len(r["members"]) == 2 for r in done[0].records)
    assert_complete(tmp_path, 6, steps)
    groups = {tuple(read_meta(f)["ensemble"]["members"]) for f in run_folders(tmp_path)}
    assert len(groups) == 3 and all(len(g) == 2 for g in groups)
    partner = next(g for g in groups if victim.name in g)
    last = [read_meta(tmp_path / name)["sessions"][-1] for name in partner]
    if last[0]["start_step"] == last[1]["start_step"] > 0:
        # the usual case: both had checkpointed the same step, and they continued together
        assert [s["ensemble_size"] for s in last] == [2, 2]
    else:
        # the kill fell between the two members' saves: each was brought to completion alone
        assert all("ensemble_size" not in s for s in last)


@pytest.mark.slow
def test_a_killed_driver_is_restarted(tmp_path, executor_kind):
    """Two short runs finish; the driver is killed while a long run has only its first checkpoints.

    The long runs have 200 steps so that the kill lands far from their end: a Ray task can outlive
    its killed driver for a moment, and with equal short runs it sometimes finished the run before
    the restarted driver looked (then nothing is left to resume and the test proves nothing)."""
    short, long = 30, 200
    file = tmp_path / "sweep.yaml"
    file.write_text(yaml.safe_dump({"name": "t", "base": tiny_tree(steps=short), "seeds": [0, 1],
                                    "grid": {"train.steps": [short, long]},
                                    "evaluate": None, "report": False}))
    runs_dir = tmp_path / "runs"
    kind, opts = executor_kind
    cmd = [sys.executable, "-m", "betavae.cli", "sweep", str(file), "--executor", kind,
           "--workers", "2", "--runs-dir", str(runs_dir)] + (["--address", opts["address"]] if opts else [])
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def steps_of(f: Path) -> int:
        return load_config(f / "config.yaml").train.steps

    try:
        def a_run_finished_and_a_long_run_started():
            folders = run_folders(runs_dir) if runs_dir.exists() else []
            return (any(read_meta(f).get("status") == "finished" for f in folders)
                    and any(steps_of(f) == long and (f / "state.pt").exists() for f in folders))
        wait_for(a_run_finished_and_a_long_run_started)
    finally:
        driver.kill()
        driver.wait()
    # a Ray worker whose driver died is stopped by the cluster a moment later: wait for that
    wait_for(lambda: not any(is_training(f) for f in run_folders(runs_dir)))
    with executor(executor_kind) as ex:
        out = run_sweep(load_sweep(file), ex, runs_dir)
    assert out.counts["skipped"] >= 1 and out.counts["resume"] >= 1, out.counts
    assert out.counts["train"] + out.counts["resume"] + out.counts["skipped"] == 4
    assert out.statuses == {"finished": 4}, [(r["run_id"], r.get("status"), r.get("error")) for r in out.records]
    folders = run_folders(runs_dir)
    assert sorted(steps_of(f) for f in folders) == [short, short, long, long]
    for f in folders:
        assert read_meta(f)["status"] == "finished"
        assert [r["step"] for r in read_metrics(f)] == list(range(2, steps_of(f) + 1, 2))
    assert any(len(read_meta(f)["sessions"]) >= 2 for f in folders if steps_of(f) == long)


def test_a_second_driver_is_refused(tmp_path, executor_kind):
    sweep = tiny_sweep()
    with SweepLock(tmp_path), executor(executor_kind) as ex:
        with pytest.raises(BetavaeError, match=rf"in use by another sweep driver \(host .*, pid {os.getpid()}"):
            run_sweep(sweep, ex, tmp_path)
    assert not run_folders(tmp_path)


# ------------------------------------------------------------------ CLI, reports (local only)


@pytest.mark.slow
def test_cli_sweep_with_reports_and_index(tmp_path, capsys):
    file = tmp_path / "s.yaml"
    file.write_text(yaml.safe_dump({"name": "cli", "base": tiny_tree(), "grid": {"objective.beta": [1, 4]},
                                    "evaluate": TINY_EVAL, "report": True}))
    runs_dir = tmp_path / "runs"
    args = ["sweep", str(file), "--workers", "2", "--runs-dir", str(runs_dir)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 runs (2 finished)" in out and (runs_dir / "index.html").is_file()
    assert all((f / "report.html").is_file() for f in run_folders(runs_dir))
    assert main([*args[:2], "--dry-run", "--runs-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out.count("nothing") == 2
    with SweepLock(runs_dir):
        assert main(args) == 2
    assert "in use by another sweep driver" in capsys.readouterr().err


def test_a_run_missing_only_its_report_is_reported_not_measured_again(tmp_path):
    """A run kept without weights and report (docs/studies/keep_runs.py) needs only its report:
    the sweep writes it from the run's files and leaves eval.json as it was (measuring again would
    need the weights)."""
    with make_executor("local", 1, 1, 2) as ex:
        run_sweep(tiny_sweep(evaluate=TINY_EVAL), ex, tmp_path)  # trained and measured, no report
        (run,) = run_folders(tmp_path)
        measured = (run / "eval.json").read_bytes()
        for name in ("weights.safetensors", "state.pt"):
            (run / name).unlink()
        outcome = run_sweep(tiny_sweep(evaluate=TINY_EVAL, report=True), ex, tmp_path)
    assert outcome.counts == {"report": 1} and outcome.statuses == {"finished": 1}
    assert (run / "report.html").is_file() and (run / "eval.json").read_bytes() == measured
    assert not (run / "weights.safetensors").exists()


def wait_for(condition, timeout: float = 90.0, every: float = 0.05):
    """Poll ``condition()`` until it returns something truthy; return that."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def test_a_run_folder_with_only_a_partial_config_write_is_trained_afresh(tmp_path):
    """A worker killed while writing config.yaml leaves only atomic_write's temporary behind: the
    run has nothing to resume, so the sweep trains it (and the temporary goes)."""
    from betavae.experiments.executors.base import work_needed
    from betavae.experiments.rundir import create_run_dir

    config = load_config(None, ["train.steps=1"])
    run_dir = tmp_path / config.run_id()
    run_dir.mkdir()
    (run_dir / ".config.yaml.k3j2.tmp").write_text("name: partial")
    assert work_needed(run_dir, evaluate=False, report=False) == "train"
    assert create_run_dir(config, tmp_path) == run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]
    (run_dir / "notes.txt").write_text("a user's file")
    with pytest.raises(BetavaeError, match="already exists and holds files"):
        create_run_dir(config, tmp_path)
