"""The whole pipeline on the tiny set through the CLI: the study as a sweep (data → runs → eval.json →
index with Tables 2-4), train → eval, several translator seeds on one β-VAE."""

import json

import numpy as np
import pytest
import yaml

from betavae.cli import main
from betavae.config import load_config
from betavae.shipped import shipped_path
from betavae.train.ensemble import seed_configs

TINY = {"data.n_sets": 1, "data.n_voices": 2, "data.img_size": 64, "data.speech": "tones"}
TINY_ARGS = [f"{k}={v}" for k, v in TINY.items()]


def _runs(out):
    return {r["run_id"]: r for r in json.loads((out / "sweep.json").read_text())}


def _eval(out, run_id):
    return json.loads((out / run_id / "eval.json").read_text())


@pytest.mark.slow
def test_study_end_to_end(tiny_corpus, tmp_path):
    sweep = {"name": "study", "base": "crossmodal_separate",
             "set": {**TINY, "train.epochs": 3, "name": "study"},
             "grid": [{"data.protocol": "symbol", "model.variant": ["separate", "joint"], "objective.strategy": [1, 6]},
                      {"data.protocol": "compositional", "data.held_out": "pen",
                       "model.variant": ["separate", "joint"], "objective.strategy": 6}],
             "seeds": [0, 1], "ensemble": 2, "report": True,
             "evaluate": {"metrics": ["reconstruction", "translation", "baseline"],
                          "translator": {"epochs": 300, "lr": 1e-2}, "baseline": {"epochs": 2}}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(sweep))
    out = tmp_path / "study"
    args = ["sweep", str(tmp_path / "study.yaml"), "--runs-dir", str(out), "--workers", "1"]
    assert main(args) == 0
    runs = _runs(out)
    assert len(runs) == 12 and {r["status"] for r in runs.values()} == {"finished"}
    cells = {(r["data.protocol"], r["model.variant"]) for r in runs.values()}
    assert cells == {("symbol", "separate"), ("symbol", "joint"), ("compositional", "separate"),
                     ("compositional", "joint")}
    assert sorted(r["objective.strategy"] for r in runs.values()
                  if r["data.protocol"] == "symbol" and r["model.variant"] == "separate") == [1, 1, 6, 6]
    comp = [_eval(out, i) for i, r in runs.items() if r["data.protocol"] == "compositional"]
    for ev in comp:
        assert ev["split"]["test"] == 2 * 25 - 2 * 20  # the pen's 5 action utterances × 2 voices
        assert ev["test_groups"] == [f"object0-action{a}" for a in range(5)]
    joint = [_eval(out, i) for i, r in runs.items() if r["data.protocol"] == "symbol" and r["model.variant"] == "joint"]
    for ev in joint + comp:
        m = ev["records"][0]
        assert 0 < m["test_acc_sampled"] <= 100 and m["translation"]["cos_dist"] >= 0
        assert set(m["words"]) == {"object", "action", "pair"}
    assert all(ev["records"][0]["translation_seen"]["mse"] < ev["records"][0]["mean_seen"]["mse"]
               for ev in joint)  # beats the mean
    report = (out / "index.md").read_text()
    for head in ("Table 2", "Table 3", "Table 4", "74.55", "0.17", "Gradual Ramp-Up"):
        assert head in report
    assert main(args) == 0  # resumes: every run is kept
    again = json.loads((out / "sweep.json").read_text())
    assert [r["run_id"] for r in again] == list(runs) and all(r["status"] == "finished" for r in again)
    assert all(_eval(out, i)["time"] == ev["time"] for i, ev in
               ((i, _eval(out, i)) for i in runs))  # nothing measured again


def _train(tmp_path, *extra, seeds="0,1"):
    runs = tmp_path / "runs"
    assert main(["train", "crossmodal_separate", *TINY_ARGS, "train.epochs=2", "train.batch_size=8", *extra,
                 "--runs-dir", str(runs), "--seeds", seeds]) == 0
    cfg = load_config(shipped_path("crossmodal_separate"), [*TINY_ARGS, "train.epochs=2", "train.batch_size=8", *extra])
    return [runs / c.run_id() for c in seed_configs(cfg, [int(s) for s in seeds.split(",")])]


def test_train_then_eval_round_trip(tiny_corpus, tmp_path, capsys):
    dirs = _train(tmp_path, "data.protocol=compositional", "data.held_out=fork")
    options = ["-o", "translator.epochs=2", "-o", "baseline.epochs=1"]
    assert main(["eval", str(dirs[1]), *options]) == 0
    assert "words.pair" in capsys.readouterr().out
    a = json.loads((dirs[1] / "eval.json").read_text())
    assert main(["eval", str(dirs[1]), *options]) == 0  # measured again from the saved weights
    b = json.loads((dirs[1] / "eval.json").read_text())
    assert np.isclose(a["values"]["translation.mse"], b["values"]["translation.mse"])
    assert a["values"]["test_acc_sampled"] == b["values"]["test_acc_sampled"]


@pytest.mark.slow
def test_several_translator_seeds_on_one_vae(tiny_corpus, tmp_path):
    """The old rerun_scope=seq2seq: one β-VAE, one translator per seed on its latents."""
    (run,) = _train(tmp_path, seeds="0")
    assert main(["eval", str(run), "-o", "translator.epochs=2", "-o", "translator_seeds=[0,1,2]",
                 "--metrics", "translation"]) == 0
    ev = json.loads((run / "eval.json").read_text())
    assert [r["translator_seed"] for r in ev["records"]] == [0, 1, 2]
    assert ev["values"]["translation.mse"] == pytest.approx(np.mean([r["translation"]["mse"] for r in ev["records"]]))
    assert "test_acc_sampled" not in ev["values"]  # only the groups asked for
    # members that differ in β strategy are never shared (Table 2 needs one β-VAE per strategy)
    one = _train(tmp_path / "s1", "objective.strategy=1", seeds="0")[0]
    assert one.name != run.name and (one / "weights.safetensors").is_file()


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    args = ["train", "crossmodal_separate", *TINY_ARGS, "data.protocol=compositional", "data.held_out=spork",
            "--runs-dir", str(tmp_path / "runs")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "unknown object 'spork'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.yaml").write_text(shipped_path("crossmodal_separate").read_text())
    assert main(["eval", str(tmp_path / "x"), "--bootstrap", "3"]) == 2
    assert "--bootstrap: options of the image metrics" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "x")]) == 2  # no weights: a clear line, no traceback
    err = capsys.readouterr().err
    assert "weights.safetensors" in err and "Traceback" not in err
