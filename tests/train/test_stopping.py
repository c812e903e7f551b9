"""Early stopping (``train.stop_when``, issue #23): a met condition ends the run at that step."""

from __future__ import annotations

import json

import pytest
import torch

from betavae.config import build_config, load_config
from betavae.errors import BetavaeError
from betavae.experiments.load import load_state
from betavae.experiments.run import Trainer, resume, train
from betavae.experiments.rundir import read_meta, read_metrics, write_meta
from betavae.experiments.study import aggregate, write_aggregate
from betavae.experiments.sweep import sweep_from_dict
from betavae.train.checkpoint import load_weights
from betavae.train.stopping import STOP_CONDITIONS, StopCondition, stop_reason

from ..conftest import tiny_tree


@pytest.fixture
def flag_condition(monkeypatch):
    """A condition ``flag_up`` of image runs, met when the row has ``eval.flag`` True; the run's
    evaluation raises the flag from step ``FIRES`` on (and counts its calls)."""
    monkeypatch.setitem(STOP_CONDITIONS, "flag_up", StopCondition("flag_up", "eval.flag", ("image",), "test"))
    calls = []

    def evaluate(self, model):
        calls.append(self.step)
        return {"eval.flag": self.step >= 6}

    monkeypatch.setattr(Trainer, "_evaluate", evaluate)
    return calls


def stopping_config(**train):
    return build_config(tiny_tree(steps=12, eval_every=2, checkpoint_every=4, stop_when=["flag_up"], **train))


def test_a_condition_that_fires_at_step_6_stops_the_run_there(tmp_path, flag_condition):
    run = train(stopping_config(), tmp_path)
    assert flag_condition == [2, 4, 6]  # evaluated at every eval_every, not after the stop
    meta = read_meta(run)
    assert meta["status"] == "finished" and meta["step"] == 6
    assert meta["stopped"] == {"step": 6, "reason": "flag_up"}
    assert [r["step"] for r in read_metrics(run)] == [2, 4, 6]
    state = load_state(run)
    assert state["step"] == 6 and state["stopped"] == {"step": 6, "reason": "flag_up"}
    assert load_weights(run / "weights.safetensors")[2]["step"] == "6"  # a checkpoint off the every-4 grid


def test_resuming_a_stopped_run_trains_no_further(tmp_path, flag_condition):
    run = train(stopping_config(), tmp_path)
    before = (run / "metrics.jsonl").read_text(), load_state(run)["model"]
    resume(run)  # meta says finished: nothing to do
    write_meta(run, status="interrupted")  # even if meta were lost: the checkpoint says stopped
    resume(run)
    assert (run / "metrics.jsonl").read_text() == before[0]
    after = load_state(run)
    assert after["step"] == 6 and all(torch.equal(before[1][n], v) for n, v in after["model"].items())
    assert read_meta(run)["status"] == "finished" and read_meta(run)["stopped"]["step"] == 6
    assert flag_condition == [2, 4, 6]


def test_a_condition_met_only_at_the_last_step_is_no_early_stop(tmp_path, flag_condition):
    run = train(build_config(tiny_tree(steps=6, eval_every=2, checkpoint_every=2, stop_when=["flag_up"])), tmp_path)
    meta = read_meta(run)
    assert meta["status"] == "finished" and meta["step"] == 6 and "stopped" not in meta
    assert "stopped" not in load_state(run)


def test_runs_without_stop_when_never_stop(tmp_path, flag_condition):
    run = train(build_config(tiny_tree(steps=8, eval_every=2, checkpoint_every=4)), tmp_path)
    assert read_meta(run)["step"] == 8 and "stopped" not in read_meta(run)


def test_the_sweep_table_has_a_stopped_column(tmp_path, flag_condition):
    sweep = sweep_from_dict({"name": "st", "base": tiny_tree(eval_every=2, checkpoint_every=4),
                             "grid": [{"train.stop_when": [["flag_up"]]}, {"train.stop_when": [[]]}]})
    planned = sweep.expand()
    for run in planned:
        train(run.config, tmp_path)
    rows = aggregate(tmp_path, planned, sweep.spec.swept_keys())
    assert [(r["stopped"], r["step"]) for r in rows] == [("flag_up", 6), (None, 12)]
    write_aggregate(tmp_path, rows)
    header = (tmp_path / "sweep.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["run_id", "status", "stopped"]
    assert [r["stopped"] for r in json.loads((tmp_path / "sweep.json").read_text())] == ["flag_up", None]


def test_stop_reason_is_the_first_condition_whose_flag_is_true():
    assert stop_reason(["vsa_good", "collapse"], {"eval.vsa.collapsed": True, "eval.vsa.good": False}) == "collapse"
    assert stop_reason(["vsa_good", "collapse"], {"eval.vsa.collapsed": True, "eval.vsa.good": True}) == "vsa_good"
    assert stop_reason(["collapse"], {"eval.vsa.collapsed": 1.0}) is None  # a flag is a bool, not a number
    assert stop_reason([], {"eval.vsa.good": True}) is None


@pytest.mark.parametrize(("train", "message"), [
    ({"stop_when": ["vsa_goood"], "eval_every": 2}, "unknown stop condition 'vsa_goood'; known: vsa_good, collapse"),
    ({"stop_when": ["collapse", "collapse"], "eval_every": 2}, "each stop condition at most once"),
    ({"stop_when": ["collapse"]}, "set train.eval_every too"),
    ({"stop_when": ["collapse"], "eval_every": 2}, "collapse: a stop condition of vsa runs, not of image runs"),
])
def test_bad_stop_when_values_are_one_line_errors(train, message):
    with pytest.raises(BetavaeError, match="train.stop_when") as err:
        build_config(tiny_tree(**train))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_ensembles_refuse_stop_when(flag_condition):
    from betavae.train.ensemble import seed_configs
    from betavae.train.loop import Loop

    with pytest.raises(BetavaeError, match="not an ensemble of 2 members"):
        Loop(seed_configs(stopping_config(), [0, 1]))


@pytest.mark.parametrize(("name", "run_id_hash"), [
    ("vsa_paired", "61509504"), ("vsa_paired_scenes", "38dd58a3"), ("dsprites_vae", "1e70c7e4"),
    ("multimodal_zambelli", "aa0d61b6")])
def test_existing_configs_keep_their_run_ids(name, run_id_hash):
    """Hashes recorded before train.stop_when existed (main at 62a007a)."""
    from betavae.shipped import shipped_path

    config = load_config(shipped_path(name))
    assert config.config_hash() == run_id_hash
    assert load_config(shipped_path(name), ["train.stop_when=[]"]).config_hash() == run_id_hash


def test_the_vsa_grid_keeps_its_run_ids():
    from betavae.experiments.sweep import load_sweep
    from betavae.shipped import shipped_path

    planned = load_sweep(shipped_path("sweep_vsa_grid")).expand()
    assert (planned[0].run_id, planned[-1].run_id) == ("vsa-row01-8a08fc43-s0", "vsa-row17-9ca0050a-s2")
