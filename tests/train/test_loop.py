"""The loop alone (issue #19, one spine): no folders, rows and states handed to its hooks."""

from __future__ import annotations

import os

import torch

from betavae.config import build_config
from betavae.experiments.load import load_state
from betavae.experiments.run import train
from betavae.experiments.rundir import read_metrics
from betavae.train.loop import Loop

from ..conftest import tiny_tree


def test_fit_hands_out_the_rows_and_states_a_run_folder_gets_and_writes_nothing(tmp_path, monkeypatch):
    cfg = build_config(tiny_tree(steps=6, checkpoint_every=4))
    monkeypatch.chdir(tmp_path)
    rows, states, evaluated = [], [], []

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        evaluated.append(model.training)
        return {"eval.fake": 1.5}

    loop = Loop(cfg)
    loop.fit(lambda k, row: rows.append((k, row)), lambda k, state: states.append((k, state)), evaluate)
    assert os.listdir(tmp_path) == []  # no folder, no file
    assert [row["step"] for _, row in rows] == [2, 4, 6] and {k for k, _ in rows} == {0}
    assert evaluated == [] and "eval.fake" not in rows[0][1]  # no train.eval_every: never due
    assert [(k, s["step"]) for k, s in states] == [(0, 4), (0, 6)]

    run = train(cfg, tmp_path / "runs")  # the same config through the run folder: the same numbers
    logged = read_metrics(run)
    for (_, row), kept in zip(rows, logged, strict=True):
        assert {n: row[n] for n in ("step", "loss", "recon", "kl", "kl_per_dim")} == \
            {n: kept[n] for n in ("step", "loss", "recon", "kl", "kl_per_dim")}
    saved = load_state(run)["model"]
    assert all(torch.equal(saved[n], v) for n, v in states[-1][1]["model"].items())


def test_evaluate_is_called_when_due_and_merged_into_the_row(tmp_path):
    cfg = build_config(tiny_tree(steps=6, checkpoint_every=6, eval_every=4))
    rows = []
    calls = []

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        calls.append(model.training)
        return {"eval.fake": float(len(calls))}

    Loop(cfg).fit(lambda k, row: rows.append(row), lambda k, state: None, evaluate)
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert [r.get("eval.fake") for r in rows] == [None, 1.0, 2.0]  # at step 4 and at the end
    assert calls == [True, True]  # handed the member in training mode
