"""The training loop: run folder contents, resume equality, kills, NaN handling, refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file

from betavae.config import build_config
from betavae.errors import BetavaeError
from betavae.experiments.run import resume, train
from betavae.experiments.rundir import read_metrics
from betavae.io import atomic_write_text
from betavae.objectives.beta import BetaObjective
from betavae.train.callbacks import Callback

from ..conftest import tiny_tree


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "weights.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_run_folder_contents(tmp_path, tiny_config):
    run = train(tiny_config, tmp_path)
    assert run.name == f"tiny-{tiny_config.config_hash()}-s3"
    assert yaml.safe_load((run / "config.yaml").read_text()) == tiny_config.to_dict()
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    for key in ("loss", "recon", "kl", "kl_per_dim", "beta", "beta_norm", "lr", "images_per_s", "epoch"):
        assert key in rows[-1], key
    assert len(rows[-1]["kl_per_dim"]) == 4 and rows[-1]["beta"] == 4.0
    assert rows[-1]["beta_norm"] == pytest.approx(4 * 4 / 4096)
    assert rows[-1]["loss"] == pytest.approx(rows[-1]["recon"] + 4 * rows[-1]["kl"], rel=1e-5)
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == 12 and "optimizer" in state and "rng" in state
    with safe_open(run / "weights.safetensors", "pt") as fh:
        meta = fh.metadata()
    assert json.loads(meta["config"]) == json.loads(tiny_config.model_dump_json(by_alias=True))
    assert meta["step"] == "12"
    info = json.loads((run / "meta.json").read_text())
    assert info["status"] == "finished" and info["step"] == 12
    for key in ("versions", "git", "argv", "host", "start_time", "end_time"):
        assert key in info, key
    assert {"torch", "numpy", "betavae", "python"} <= info["versions"].keys()


def test_every_run_file_gets_the_usual_permissions(tmp_path, tiny_config):
    """weights.safetensors was 0600 (safetensors writes its own 0600 file): all files now get
    0666 less the umask, like files opened normally (metrics.jsonl)."""
    old = os.umask(0o027)
    try:
        run = train(tiny_config, tmp_path)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.iterdir() if p.is_file()}
    assert {"weights.safetensors", "state.pt", "meta.json", "config.yaml", "metrics.jsonl"} <= modes.keys()
    assert modes == dict.fromkeys(modes, 0o640)


def test_same_seed_same_weights(tmp_path, tiny_config):
    a = train(tiny_config, tmp_path / "a")
    b = train(tiny_config, tmp_path / "b")
    assert_same_weights(a, b)
    other = train(build_config({**tiny_tree(), "seed": 4}), tmp_path / "c")
    assert not torch.equal(weights(a)["encoder.0.weight"], weights(other)["encoder.0.weight"])


class CrashAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, step: int) -> None:
        if step == self.step:
            raise RuntimeError("simulated crash")


def test_crash_then_resume_equals_uninterrupted(tmp_path, tiny_config):
    full = train(tiny_config, tmp_path / "full")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(tiny_config, tmp_path / "crash", callbacks=[CrashAt(7)])
    run = tmp_path / "crash" / full.name
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 4
    assert json.loads((run / "meta.json").read_text())["status"] == "failed"
    resume(run)
    assert_same_weights(full, run)
    assert [r["step"] for r in read_metrics(run)] == [2, 4, 6, 8, 10, 12]


class SignalAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, step: int) -> None:
        if step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_checkpoints_the_current_step_then_resume_is_exact(tmp_path, tiny_config):
    full = train(tiny_config, tmp_path / "full")
    with pytest.raises(BetavaeError, match="interrupted at step 5"):
        train(tiny_config, tmp_path / "sig", callbacks=[SignalAt(5)])
    run = tmp_path / "sig" / full.name
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 5
    assert json.loads((run / "meta.json").read_text())["status"] == "interrupted"
    resume(run)
    assert_same_weights(full, run)


@pytest.mark.slow
def test_kill_9_loses_at_most_the_work_since_the_checkpoint(tmp_path):
    tree = tiny_tree(steps=400, log_every=10, checkpoint_every=20)
    cfg = build_config(tree)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(tree))
    proc = subprocess.Popen(
        [sys.executable, "-m", "betavae.cli", "train", str(cfg_path), "--runs-dir", str(tmp_path / "k")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    run = tmp_path / "k" / cfg.run_id()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = read_metrics(run) if run.exists() else []
        if rows and rows[-1]["step"] >= 50:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    state = torch.load(run / "state.pt", weights_only=True)
    logged = read_metrics(run)[-1]["step"]
    assert 40 <= state["step"] <= logged and logged - state["step"] < 20 + 10
    resume(run)
    full = train(cfg, tmp_path / "full")
    assert_same_weights(full, run)
    assert [r["step"] for r in read_metrics(run)] == list(range(10, 401, 10))


def test_refuses_a_non_empty_run_folder(tmp_path, tiny_config):
    run = train(tiny_config, tmp_path)
    before = (run / "weights.safetensors").read_bytes()
    with pytest.raises(BetavaeError, match="already exists.*--resume"):
        train(tiny_config, tmp_path)
    assert (run / "weights.safetensors").read_bytes() == before


def test_resume_of_a_finished_run_changes_nothing(tmp_path, tiny_config):
    run = train(tiny_config, tmp_path)
    before = (run / "weights.safetensors").read_bytes()
    resume(run)
    assert (run / "weights.safetensors").read_bytes() == before


def test_nan_loss_stops_names_step_and_term_and_keeps_last_checkpoint(tmp_path, tiny_config, monkeypatch):
    original = BetaObjective.forward
    calls = {"n": 0}

    def poisoned(self, out, x, hyper):
        terms = original(self, out, x, hyper)
        calls["n"] += 1
        if calls["n"] > 6:  # steps are 0-based: step 6 is the 7th call
            terms["kl"] = terms["kl"] * float("nan")
            terms["loss"] = terms["recon"] + hyper["beta"] * terms["kl"]
        return terms

    monkeypatch.setattr(BetaObjective, "forward", poisoned)
    with pytest.raises(BetavaeError, match=r"loss term kl, loss became NaN/inf at step 6.*last good checkpoint"):
        train(tiny_config, tmp_path)
    run = tmp_path / tiny_config.run_id()
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in weights(run).values())
    assert json.loads((run / "meta.json").read_text())["status"] == "failed"
    assert [r["step"] for r in read_metrics(run)] == [2, 4, 6]


def test_resume_repairs_a_torn_metrics_file(tmp_path, tiny_config):
    with pytest.raises(RuntimeError):
        train(tiny_config, tmp_path, callbacks=[CrashAt(9)])
    run = tmp_path / tiny_config.run_id()
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 9, "loss": 1.')  # a write cut by a kill
    resume(run)
    assert [r["step"] for r in read_metrics(run)] == [2, 4, 6, 8, 10, 12]


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path):
    from betavae.io import atomic_write

    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    def failing(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_damaged_state_file_gives_a_clear_error(tmp_path, tiny_config):
    with pytest.raises(RuntimeError):
        train(tiny_config, tmp_path, callbacks=[CrashAt(5)])
    run = tmp_path / tiny_config.run_id()
    (run / "state.pt").write_bytes(b"garbage")
    with pytest.raises(BetavaeError, match="state.pt cannot be read"):
        resume(run)


def test_evaluation_during_training_appends_metrics_without_changing_training(tmp_path):
    plain = train(build_config(tiny_tree()), tmp_path / "plain")
    cfg = build_config(tiny_tree(eval_every=6, eval_metrics=["mig", "modularity"]))
    run = train(cfg, tmp_path / "eval")
    rows = {r["step"]: r for r in read_metrics(run)}
    assert 0 <= rows[6]["eval.mig"] <= 1 and 0 <= rows[12]["eval.modularity"] <= 1
    assert "eval.mig" not in rows[4]
    assert_same_weights(plain, run)  # evaluation draws from its own generators
    with pytest.raises(BetavaeError, match="eval_every"):
        build_config(tiny_tree(eval_every=5))
    with pytest.raises(BetavaeError, match="unknown metric"):
        build_config(tiny_tree(eval_metrics=["nope"]))
