"""docs/studies/correlated_table.py: reading a sweep folder, the intervals, the power rule, the table,
the CSV round trip, on a synthetic sweep with known values."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).parents[2] / "docs/studies/correlated_table.py"
spec = importlib.util.spec_from_file_location("correlated_table", SCRIPT)
ct = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ct)

SHARED = "mig.shared[posX,posY]"


def make_run(root: Path, run_id: str, data: dict, kind: str, seed: int, mig_x: float | None,
             mig_y: float = 0.0, recon: float = 120.0) -> None:
    """A run folder with a config, two metrics lines and (when mig_x is given) an eval.json."""
    d = root / run_id
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "data": data, "objective": {"kind": kind}}))
    lines = [{"step": 50, "recon": 530.0, "kl": 0.1, "beta": 4.0}, {"step": 100, "recon": recon, "kl": 9.5, "beta": 4.0}]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if mig_x is not None:
        breakdown = {"mig[posX]": mig_x, "mig[posY]": mig_y, SHARED: 0.25, "mig[shape]": 0.9}
        (d / "eval.json").write_text(json.dumps({"values": {"mig": 0.2, "dci.disentanglement": 0.3},
                                                 "breakdown": breakdown}))


@pytest.fixture
def sweep(tmp_path):
    """strength 5: β-VAE seeds 0-2 with pair MIG 0.1, 0.2, 0.3 (posX 2·that, posY 0) and a fourth
    planned run that never started; independent: per-latent seed 0 at 0.5, seed 1 unfinished."""
    corr = {"kind": "dsprites_correlated", "pairs": [{"factors": ["posY", "posX"], "strength": 5.0}]}
    listing = []
    for seed, value in enumerate([0.1, 0.2, 0.3]):
        make_run(tmp_path, f"b-s{seed}", corr, "beta", seed, 2 * value)
        listing.append({"run_id": f"b-s{seed}", "seed": seed, "status": "finished"})
    listing.append({"run_id": "b-s3", "seed": 3, "status": "missing"})
    for entry in listing:  # sweep.json lists the swept keys of every planned run
        entry.update(data=corr, objective={"kind": "beta"})
    make_run(tmp_path, "p-s0", {"kind": "dsprites"}, "per_latent", 0, 0.6, 0.4, recon=530.0)
    make_run(tmp_path, "p-s1", {"kind": "dsprites"}, "per_latent", 1, None)
    listing += [{"run_id": "p-s0", "status": "finished"}, {"run_id": "p-s1", "status": "interrupted"},
                {"run_id": "x-s0", "status": "missing"}]  # no folder and no swept keys: its cell is unknown
    (tmp_path / "sweep.json").write_text(json.dumps(listing))
    return tmp_path


def test_collect_reads_every_planned_run(sweep):
    rows = {r["run_id"]: r for r in ct.collect(sweep)}
    assert list(rows) == ["b-s0", "b-s1", "b-s2", "b-s3", "p-s0", "p-s1", "x-s0"]
    assert [rows[f"b-s{s}"]["pair_mig"] for s in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert rows["b-s1"]["strength"] == 5.0 and rows["b-s1"]["arm"] == "beta" and rows["b-s1"]["seed"] == 1
    assert rows["b-s0"][SHARED] == 0.25 and rows["b-s0"]["recon"] == 120.0 and rows["b-s0"]["step"] == 100
    assert rows["p-s0"]["strength"] == 0.0 and rows["p-s0"]["pair_mig"] == pytest.approx(0.5)
    assert rows["b-s3"] == {"run_id": "b-s3", "strength": 5.0, "arm": "beta", "seed": 3, "status": "missing"}
    assert rows["x-s0"] == {"run_id": "x-s0", "status": "missing"}
    assert rows["p-s1"]["status"] == "interrupted" and "pair_mig" not in rows["p-s1"]


def test_intervals_and_power_at_known_points():
    mean, lo, hi = ct.t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) · sd 1 / √3
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert ct.bootstrap_interval([0.7] * 4) == pytest.approx((0.7, 0.7, 0.7))
    _, blo, bhi = ct.bootstrap_interval([0.0, 1.0] * 10)
    assert 0.25 < blo < 0.5 < bhi < 0.75  # the mean 0.5 ± about 2 · 0.5/√20 = 0.22
    # README rule 2: (t(0.975, 8) + t(0.8, 8)) · s · √(2/5) at n = 5, s = 1
    assert ct.min_detectable(1.0, 5) == pytest.approx((2.306004135 + 0.888889) * math.sqrt(0.4), rel=1e-4)
    assert ct.min_detectable(1.0, 5, power=None) == pytest.approx(2.306004135 * math.sqrt(0.4), rel=1e-6)
    assert ct.min_detectable(0.5, 10) == pytest.approx(ct.min_detectable(1.0, 10) / 2)


def test_summary_table_and_pooled_spread(sweep):
    rows = ct.collect(sweep)
    cells = ct.groups(rows)
    assert list(cells) == [(0.0, "per_latent"), (5.0, "beta")]  # strength, then arm order
    s = ct.summarise(cells[(5.0, "beta")], "pair_mig")
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.2) and s["sd"] == pytest.approx(0.1)
    assert (s["lo"], s["hi"]) == pytest.approx(ct.t_interval([0.1, 0.2, 0.3])[1:])
    assert ct.pooled_sd(rows) == pytest.approx((0.1, 2))  # one cell with two or more seeds
    table = ct.markdown_table(rows).splitlines()
    assert table[2].startswith("| independent | per-latent β | 1 / 2 | 0 | 0.500 (one run) |")
    assert table[3].startswith(f"| 5 | β-VAE | 3 / 4 | 3 | 0.200 [{s['lo']:.3f}, {s['hi']:.3f}] |")


def test_csv_round_trip_gives_the_same_table(sweep, tmp_path):
    rows = ct.collect(sweep)
    ct.write_csv(rows, tmp_path / "out" / "runs.csv")
    back = ct.read_csv(tmp_path / "out" / "runs.csv")
    assert len(back) == 7 and back[1]["seed"] == 1 and back[1]["pair_mig"] == pytest.approx(0.2)
    assert ct.markdown_table(back) == ct.markdown_table(rows)


def test_main_writes_table_csv_and_figure(sweep, tmp_path, capsys):
    out = tmp_path / "docs"
    ct.main(["study", str(sweep), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "pooled between-seed sd 0.1000 (2 degrees of freedom)" in printed
    assert (out / "table.md").read_text().strip() == printed.strip()
    assert (out / "pair_score.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(ct.read_csv(out / "runs.csv")) == 7
    evals = json.loads((out / "evals.json").read_text())
    assert sorted(evals) == ["b-s0", "b-s1", "b-s2", "p-s0"]
    assert evals["b-s1"] == json.loads((sweep / "b-s1" / "eval.json").read_text())


def test_planned_runs_from_the_sweep_file_place_unstarted_runs(tmp_path):
    """While a sweep runs there is no sweep.json: the sweep file lists the planned runs."""
    pilot = Path(__file__).parents[2] / "src/betavae/configs/sweep_correlated_pilot.yaml"
    planned = ct.planned_runs(pilot)
    assert len(planned) == 8 and {p["seed"] for p in planned} == {100}
    rows = ct.collect(tmp_path, planned)  # an empty runs folder: every run planned, none started
    assert [r["arm"] for r in rows][:3] == ["learned", "learned", "capacity"]
    assert {r["strength"] for r in rows} == {5.0} and {r["status"] for r in rows} == {"missing"}


def test_pilot_lines_show_the_mechanism_and_when_the_mean_image_was_left(tmp_path):
    d = tmp_path / "cap-s100"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump({"seed": 100, "data": {"kind": "dsprites"},
                                                   "objective": {"kind": "capacity"}}))
    logged = [{"step": 250, "recon": 520.0, "kl": 3.5, "capacity": 3.75},
              {"step": 500, "recon": 150.0, "kl": 7.4, "capacity": 7.5, "eval.mig": 0.04},
              {"step": 600, "recon": 140.0, "kl": 9.0, "capacity": 9.0}]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logged))
    lines = ct.pilot_lines(tmp_path, every=250)
    assert lines[0].startswith("capacity (cap-s100, seed 100, strength 0); recon < 400 from step 500;")
    assert lines[1:] == ["  step    250, recon   520.0, KL   3.50, C_t  3.75",
                         "  step    500, recon   150.0, KL   7.40, C_t  7.50, MIG 0.040"]


def test_contrasts_against_beta_and_independent():
    def rows(strength, arm, values):
        return [{"strength": strength, "arm": arm, "status": "finished", "pair_mig": v} for v in values]

    data = (rows(5.0, "beta", [0.1, 0.2, 0.3]) + rows(5.0, "pairwise", [0.4, 0.5, 0.6])
            + rows(0.0, "pairwise", [0.1, 0.2, 0.3]) + rows(0.0, "beta", [0.2])  # one seed: no contrast
            + [{"strength": 5.0, "arm": "capacity", "status": "failed"}])
    found = ct.contrasts(data)
    assert [(r["strength"], r["arm"]) for r in found] == [(5.0, "pairwise")]
    assert found[0]["diff"] == pytest.approx(0.3) and found[0]["p_holm"] == pytest.approx(found[0]["p"])
    effects = ct.correlation_effects(data)
    assert [(r["strength"], r["arm"]) for r in effects] == [(5.0, "pairwise")]
    assert effects[0]["diff"] == pytest.approx(0.3)
    table = ct.contrast_table(found, "β-VAE")
    assert "| 5 | pairwise β | +0.300 [" in table and "p (Holm, 1 tests)" in table


def test_budget_lines_read_the_in_training_mig(sweep):
    rows = ct.collect(sweep)
    assert "mig@1000" not in rows[0]  # the fixture logs no eval.mig
    data = [{"arm": "beta", "status": "finished", "mig@1000": 0.1, "mig@2000": 0.2, "mig@3000": 0.2 + d}
            for d in (0.01, 0.03)]
    lines = ct.budget_lines(data)
    assert lines[2].startswith("| β-VAE | 2 | 0.100 | 0.200 | 0.220 | +0.020 [")
    assert ct.budget_lines(data[:1]) == []  # one run: no interval, no line
