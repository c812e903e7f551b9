"""docs/studies/vsa_decisive_table.py on synthetic run folders with known in-training evaluations."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import yaml

from betavae.config import build_config

SCRIPT = Path(__file__).parents[2] / "docs/studies/vsa_decisive_table.py"
spec = importlib.util.spec_from_file_location("vsa_decisive_table", SCRIPT)
vt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vt)


def make_run(root: Path, run_id: str, kind: str, kld: float, seed: int, evals: list[dict], stopped=None) -> None:
    d = root / run_id
    d.mkdir(parents=True)
    config = build_config({"seed": seed, "data": {"kind": kind}, "model": {"kind": "feature_vae"},
                           "objective": {"kind": "vsa", "image": "bce", "reduction": "sum", "kld": kld, "cosine": 1}})
    (d / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    lines = [{"step": 500, "loss": 1.0}]  # a training line: no evaluation
    lines += [{"step": e.pop("step"), **{f"eval.vsa.{k}": v for k, v in e.items()}} for e in evals]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (d / "meta.json").write_text(json.dumps({"step": lines[-1]["step"], **({"stopped": stopped} if stopped else {})}))


def test_rows_trajectories_and_the_latest_scores(tmp_path):
    def pd(step, iou, acc, good):
        return {"step": step, "swap.iou": iou, "swap.empty": 0.0, "swap_acc.changed": acc,
                "latent.kl": 100.0, "good": good, "collapsed": False}
    make_run(tmp_path, "r15-s0", "paired_dsprites", 0.01, 0, [pd(1000, 0.70, 0.5, False), pd(2000, 0.82, 0.81, True)],
             stopped="vsa_good")
    make_run(tmp_path, "r15-s1", "paired_dsprites", 0.01, 1, [pd(1000, 0.74, 0.6, False)])
    make_run(tmp_path, "r16-s0", "paired_scene_dsprites", 0.01, 0,
             [{"step": 1000, "scene.iou": 0.0, "scene.empty": 1.0, "latent.kl": 0.5, "collapsed": True}])
    make_run(tmp_path, "other", "paired_dsprites", 0.5, 0, [pd(1000, 0.9, 0.9, True)])  # κ the source did not try
    runs = {r["run_id"]: r for r in vt.collect(tmp_path)}
    assert [runs[k]["row"] for k in ("r15-s0", "r15-s1", "r16-s0", "other")] == [15, 15, 16, None]
    assert runs["r15-s0"]["stopped"] == "vsa_good" and runs["r15-s0"]["steps"] == 2000
    assert runs["r16-s0"]["evals"][0]["iou"] == 0.0 and runs["r16-s0"]["evals"][0]["empty"] == 1.0
    text = vt.main([str(tmp_path), "--out", str(tmp_path / "out"), "--at", "1000"])
    latest, at_1000 = text.split("Every run at step 1,000:")
    lines = {ln.split(" |")[0]: ln for ln in latest.splitlines() if ln.startswith("| 1")}
    assert "| 15 | 2 | 1000, 1000 | 0 of 2 judged | 0 | 0.720 [" in at_1000  # both runs at one length
    half = 12.706204736 * math.sqrt(((0.82 - 0.78) ** 2 + (0.74 - 0.78) ** 2) / 1) / math.sqrt(2)  # t(0.975, 1)
    assert lines["| 15"].startswith(f"| 15 | 2 | 2000, 1000 | 1 of 2 judged | 0 | 0.780 [{0.78 - half:.3f}, {0.78 + half:.3f}]")
    assert "| 16 | 1 | 1000 | 0 of 0 judged | 1 | 0.000 (one run) | – |" in lines["| 16"]  # no classifier score: no verdict
    with (tmp_path / "out" / "trajectories.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["run_id"], r["step"], r["stopped"]) for r in rows] == [
        ("other", "1000", ""), ("r15-s0", "1000", "vsa_good"), ("r15-s0", "2000", "vsa_good"), ("r15-s1", "1000", ""), ("r16-s0", "1000", "")]
    assert (tmp_path / "out" / "table.md").read_text() == text + "\n"
    assert json.loads((tmp_path / "out" / "evals.json").read_text()) == {}  # no run has an end-of-run eval.json
    assert (tmp_path / "out" / "trajectories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_sweep_directory_is_a_one_line_error(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        vt.main([str(tmp_path / "nope")])
    assert exit_info.value.code == 2 and "is not a sweep directory" in capsys.readouterr().err


def test_contrasts_are_welch_differences_at_one_step(tmp_path):
    from scipy import stats

    def pd(step, iou, acc):
        return {"step": step, "swap.iou": iou, "swap.empty": 0.0, "swap_acc.changed": acc, "latent.kl": 100.0,
                "good": False, "collapsed": False}
    for seed, (iou, acc) in enumerate([(0.80, 0.70), (0.82, 0.74), (0.84, 0.72)]):
        make_run(tmp_path, f"r14-s{seed}", "paired_dsprites", 0.0, seed, [pd(1000, 0.5, 0.5), pd(2000, iou, acc)])
    for seed, (iou, acc) in enumerate([(0.74, 0.60), (0.75, 0.58)]):
        make_run(tmp_path, f"r13-s{seed}", "paired_dsprites", 0.1, seed, [pd(1000, 0.5, 0.5), pd(2000, iou, acc)])
    make_run(tmp_path, "r15-s0", "paired_dsprites", 0.01, 0, [pd(2000, 0.9, 0.9)])
    text = vt.main([str(tmp_path), "--at", "2000", "--contrast", "14-13", "--contrast", "15-13"])
    contrasts = text.split("Contrasts at step 2,000:")[1]
    p = stats.ttest_ind([0.80, 0.82, 0.84], [0.74, 0.75], equal_var=False).pvalue
    assert "| 14 − 13 | 3 + 2 | swap/scene IoU | +0.075 [" in contrasts and f"| {p:.2g} |" in contrasts
    assert "| 14 − 13 | 3 + 2 | changed acc | +0.130 [" in contrasts
    assert "| 15 − 13 | 1 + 2 | swap/scene IoU | – (needs ≥ 2 runs each) | – |" in contrasts
    latest = vt.main([str(tmp_path), "--contrast", "14-13"])  # no --at: the latest evaluations (step 2,000 here)
    assert "Contrasts at latest evaluations:" in latest and "+0.075 [" in latest


def test_a_malformed_contrast_is_a_one_line_error(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        vt.main([str(tmp_path), "--contrast", "14_13"])
    assert exit_info.value.code == 2 and "a contrast is two source rows as A-B (e.g. 14-13), got '14_13'" in capsys.readouterr().err
