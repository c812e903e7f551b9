"""``bvae train`` of the shipped multimodal configs: run folders, weights that load back, and a
``kill -9`` in the middle of training that ``bvae train --resume`` continues to the same bits."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from betavae.cli import main
from betavae.config import load_config
from betavae.errors import BetavaeError
from betavae.experiments.load import load_state
from betavae.experiments.run import train
from betavae.experiments.rundir import read_meta, read_metrics
from betavae.multimodal.runs import load_member, reconstruct
from betavae.shipped import shipped_path
from betavae.train.checkpoint import load_weights

TINY = ["data.simulator.n_train=300", "data.simulator.n_test=50", "train.batch_size=200", "train.lr=1e-3",
        "train.device=cpu", "train.threads=1", "train.checkpoint_every=1"]


def test_shipped_configs_are_the_references():
    z = load_config(shipped_path("multimodal_zambelli"))
    assert (z.train.epochs, z.train.batch_size, z.train.lr, z.model.precision, z.model.n_z) == (80_000, 1000, 5e-5, "float64", 28)
    assert [z.objective.alpha.value(e) for e in (0, 500, 1000, 79_999)] == [1.0, 0.5, 0.0, 0.0]
    lg = load_config(shipped_path("multimodal_langer"))
    assert lg.objective.alpha.variant == "dyn_plateau_0" and lg.objective.alpha.value(80) == 1.0
    assert lg.objective.alpha.value(70_000) == 0.0 and lg.objective.alpha.value(40) == 0.5


def test_weights_load_back_and_reconstruct(tmp_path, sim_tiny):
    run = train(load_config(shipped_path("multimodal_zambelli"), [*TINY, "train.epochs=2", "data.seed=1",
                                                                   "data.simulator.n_test=200"]), tmp_path)
    model = load_member(run)
    assert model.parameters_per_member() == 29_150 and model.seeds == [0]
    weights = load_weights(run / "weights.safetensors")[0]
    assert all(torch.equal(p, weights[f"params.{n}"]) for n, p in model.params.items())
    mu, logvar = reconstruct(run, sim_tiny.test[:5])
    ref = model.reconstruct(torch.as_tensor(sim_tiny.test[:5]))
    assert mu.shape == (5, 28) and np.array_equal(mu, ref[0].numpy()) and np.array_equal(logvar, ref[1].numpy())
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2] and [r["alpha"] for r in rows] == [1.0, 0.999]


def test_load_member_refuses_an_image_run(tmp_path):
    tree = {"model": {"kind": "burgess", "latent_dim": 2}, "train": {"steps": 1, "batch_size": 4, "report": False,
                                                                      "device": "cpu", "log_every": 1, "checkpoint_every": 1}}
    from betavae.config import build_config

    run = train(build_config(tree), tmp_path)
    with pytest.raises(BetavaeError, match="not a multimodal"):
        load_member(run)


@pytest.mark.slow  # 17-20 s; test_train.py::test_resume_from_members_states_is_exact stays in the default suite
def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    overrides = [*TINY, "train.epochs=150"]
    straight = train(load_config(shipped_path("multimodal_zambelli"), overrides), tmp_path / "straight")
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "betavae.cli", "train", "multimodal_zambelli", *overrides,
                             "--runs-dir", str(runs), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    run = runs / straight.name
    deadline = time.monotonic() + 300
    while not (run / "state.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more epochs: a later checkpoint than the first
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_state(run)["step"]
    assert 0 < killed_at < 150 * 6 and read_meta(run)["status"] == "running"
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    a, b = load_weights(straight / "weights.safetensors")[0], load_weights(run / "weights.safetensors")[0]
    assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    keys = ("step", "loss", "recon", "kl", "alpha")
    assert [{k: r[k] for k in keys} for r in read_metrics(straight)] == [{k: r[k] for k in keys} for r in read_metrics(run)]
    assert read_meta(run)["status"] == "finished" and len(read_meta(run)["sessions"]) == 2
