"""The whole pipeline on the tiny set through the CLI group: data → study → report, train → eval."""

import json

import numpy as np
from click.testing import CliRunner

from betavae.crossmodal.commands import crossmodal

TINY = ["--sets", "1", "--voices", "2", "--img-size", "64", "--speech", "tones"]


def test_study_end_to_end(tiny_corpus, tmp_path):
    out = tmp_path / "study"
    args = ["study", *TINY, "--epochs", "3", "--translator-epochs", "300", "--translator-lr", "1e-2",
            "--baseline-epochs", "2", "--strategies", "1,6", "--seeds", "0,1", "--objects", "pen",
            "--out", str(out), "--no-progress"]
    res = CliRunner().invoke(crossmodal, args)
    assert res.exit_code == 0, res.output
    units = {p.stem: json.loads(p.read_text()) for p in (out / "units").glob("*.json")}
    assert set(units) == {"symbol_separate", "symbol_joint", "symbol_baseline", "compositional0_separate",
                          "compositional0_joint", "compositional0_baseline"}
    assert [m["strategy"] for m in units["symbol_separate"]["members"]] == [1, 6]
    comp = units["compositional0_separate"]
    assert comp["split"]["test"] == 2 * 25 - 2 * 20  # the pen's 5 action utterances × 2 voices
    assert comp["test_groups"] == [f"object0-action{a}" for a in range(5)]
    for m in units["symbol_joint"]["members"] + comp["members"]:
        assert 0 < m["test_acc_sampled"] <= 100 and m["translation"]["cos_dist"] >= 0
        assert set(m["words"]) == {"object", "action", "pair"}
    joint = units["symbol_joint"]["members"]
    assert all(m["translation_seen"]["mse"] < m["mean_seen"]["mse"] for m in joint)  # beats the mean
    report = (out / "report.md").read_text()
    for head in ("Table 2", "Table 3", "Table 4", "74.55", "0.17", "Gradual Ramp-Up"):
        assert head in report
    again = CliRunner().invoke(crossmodal, args)  # resumes: every unit is kept
    assert again.exit_code == 0 and "6 units" in again.output


def test_train_then_eval_round_trip(tiny_corpus, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(crossmodal, ["train", *TINY, "--epochs", "2", "--translator-epochs", "2",
                                          "--protocol", "compositional", "--object", "fork", "--seeds", "0,1",
                                          "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(crossmodal, ["eval", str(out)])
    assert res.exit_code == 0, res.output
    a, b = json.loads((out / "metrics.json").read_text()), json.loads((out / "eval.json").read_text())
    assert np.isclose(a[0]["translation"]["mse"], b[0]["translation"]["mse"])
    assert a[1]["test_acc_sampled"] == b[1]["test_acc_sampled"]


def test_shared_vae_rerun_scope(tiny_corpus, tmp_path):
    out = tmp_path / "shared"
    res = CliRunner().invoke(crossmodal, ["train", *TINY, "--epochs", "2", "--translator-epochs", "2",
                                          "--rerun-scope", "seq2seq", "--seeds", "0,1,2", "--out", str(out),
                                          "--no-progress"])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["vae_members"] == 1 and len(json.loads((out / "metrics.json").read_text())) == 3
    assert CliRunner().invoke(crossmodal, ["eval", str(out)]).exit_code == 0
    # members that differ in β strategy are never shared (Table 2 needs one β-VAE per strategy)
    res = CliRunner().invoke(crossmodal, ["train", *TINY, "--epochs", "1", "--translator-epochs", "1",
                                          "--rerun-scope", "seq2seq", "--strategies", "1,6", "--out",
                                          str(tmp_path / "strategies"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "strategies" / "run.json").read_text())["vae_members"] == 2


def test_bad_input_is_one_clear_line(tmp_path):
    res = CliRunner().invoke(crossmodal, ["train", *TINY, "--protocol", "compositional", "--object", "spork",
                                          "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "unknown object 'spork'" in str(res.exception)
    res = CliRunner().invoke(crossmodal, ["eval", str(tmp_path)])
    assert "not a cross-modal run folder" in str(res.exception)
