"""Regression pins for the one-spine move (issue #19): what each system's training produces today.

Each function trains one system for a few steps on CPU at plain numerics, one thread, and returns a
fingerprint: per tensor (shape, float64 sum, float64 sum of squares), sorted so that renamed
parameters still match, plus the logged losses. ``python -m tests.pins.fingerprints`` prints them
as JSON; ``pins.json`` holds the values recorded before the move (commit named in that file), and
``test_pins.py`` checks that the code still produces them exactly.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

import numpy as np
import torch


def tensor_fingerprint(tensors: dict[str, torch.Tensor]) -> list[list[Any]]:
    """Sorted [shape, sum, sum of squares] of every tensor (float64), independent of names."""
    rows = []
    for t in tensors.values():
        d = t.detach().double()
        rows.append([list(d.shape), float(d.sum()), float((d * d).sum())])
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def dsprites() -> dict[str, Any]:
    from safetensors.torch import load_file

    from betavae.config import build_config
    from betavae.experiments.run import train
    from betavae.experiments.rundir import read_metrics
    tree = {"name": "pin", "seed": 3, "model": {"kind": "burgess", "latent_dim": 4},
            "objective": {"kind": "beta", "beta": 4},
            "train": {"steps": 12, "batch_size": 8, "log_every": 2, "checkpoint_every": 4, "lr": 1e-3,
                      "prefetch": 1, "threads": 1, "report": False, "speed": "plain"}}
    with tempfile.TemporaryDirectory() as tmp:
        run = train(build_config(tree), tmp)
        rows = read_metrics(run)
        return {"weights": tensor_fingerprint(load_file(run / "weights.safetensors")),
                "loss": [r["loss"] for r in rows]}


def multimodal() -> dict[str, Any]:
    """Two seeds of the sensorimotor task trained as one ensemble into run folders; the members'
    weights restacked in seed order (the pinned fingerprint is of the stacked parameters)."""
    from safetensors.torch import load_file

    from betavae.config import build_config
    from betavae.experiments.run import train_ensemble
    from betavae.experiments.rundir import read_metrics
    from betavae.multimodal.schedules import study_schedule

    tree = {"name": "pin", "data": {"kind": "sensorimotor", "seed": 1, "simulator": {"n_train": 300, "n_test": 200}},
            "model": {"kind": "zambelli"},
            "objective": {"kind": "multimodal_elbo", "alpha": study_schedule("dyn_plateau0", 6).model_dump()},
            "train": {"epochs": 6, "batch_size": 200, "lr": 1e-3, "threads": 1, "log_every": 1,
                      "checkpoint_every": 2, "device": "cpu", "report": False}}
    with tempfile.TemporaryDirectory() as tmp:
        runs = train_ensemble([build_config(tree | {"seed": s}) for s in (0, 1)], tmp)
        weights = [load_file(r / "weights.safetensors") for r in runs]
        rows = [read_metrics(r) for r in runs]
    stacked = {name: torch.cat([w[name] for w in weights]) for name in weights[0]}
    return {"weights": tensor_fingerprint(stacked),
            "loss": [[r[e]["loss"] for r in rows] for e in range(6)],
            "kl": [[r[e]["kl"] for r in rows] for e in range(6)]}


def crossmodal() -> dict[str, Any]:
    """The β-VAE ensemble (2 members, strategies 1 and 5) and 2 translators, each trained by the
    loop on its task (stacked weights: the fingerprint is of the whole ensemble's state dict)."""
    from betavae.config import TrainConfig
    from betavae.data.audiovisual import AudiovisualArrays
    from betavae.models.crossmodal import CrossModalVAEConfig
    from betavae.objectives.crossmodal import CrossModalConfig
    from betavae.train.loop import Loop
    from betavae.train.tasks.audiovisual import AudiovisualTask, TranslatorTask

    rng = np.random.default_rng(0)
    video = rng.standard_normal((40, 30, 12)).astype(np.float32)
    audio = rng.standard_normal((40, 30, 8)).astype(np.float32)
    train, val = np.arange(32), np.arange(32, 40)
    tc = TrainConfig(epochs=3, batch_size=16, lr=5e-4, weight_decay=1e-4, clip=5.0, speed="plain",
                     lr_schedule={"kind": "onecycle", "max_lr": 5e-3}, log_every=1, checkpoint_every=3)
    vae = AudiovisualTask.on_arrays(AudiovisualArrays(video, audio, train, val), CrossModalVAEConfig(),
                                    [CrossModalConfig(strategy=1), CrossModalConfig(strategy=5)], [0, 1], tc)
    rows: list[list[dict[str, Any]]] = [[], []]
    Loop(task=vae, train=tc).fit(lambda k, row: rows[k].append(row), lambda k, state: None)
    x = rng.standard_normal((2, 40, 30, 4)).astype(np.float32)
    y = rng.standard_normal((2, 40, 6, 3)).astype(np.float32)
    tr = TranslatorTask(x, y, train, [0, 1], batch_size=16)
    Loop(task=tr, train=TrainConfig(epochs=2, batch_size=16, lr=1e-4, adam_eps=1e-7, speed="plain", log_every=1,
                                    checkpoint_every=2)).fit(lambda k, row: None, lambda k, state: None)
    return {"vae": tensor_fingerprint(vae.model.state_dict()), "translator": tensor_fingerprint(tr.model.state_dict()),
            "loss": [[r["loss"] for r in epoch] for epoch in zip(*rows, strict=True)],
            "val_acc": [[r["val_acc"] for r in epoch] for epoch in zip(*rows, strict=True)]}


def vsa() -> dict[str, Any]:
    from safetensors.torch import load_file

    from betavae.config import build_config
    from betavae.experiments.run import train
    from betavae.experiments.rundir import read_metrics
    out: dict[str, Any] = {}
    for stage, data in (("pd", "paired_dsprites"), ("sd", "scene_dsprites"), ("psd", "paired_scene_dsprites")):
        tree = {"name": "pin", "data": {"kind": data}, "model": {"kind": "feature_vae", "latent_dim": 16, "hidden": 32},
                "objective": {"kind": "vsa"},
                "train": {"steps": 4, "batch_size": 4, "log_every": 1, "checkpoint_every": 4, "lr": 1e-3,
                          "device": "cpu", "threads": 1, "speed": "plain", "report": False}}
        with tempfile.TemporaryDirectory() as tmp:
            run = train(build_config(tree), tmp)
            out[stage] = {"weights": tensor_fingerprint(load_file(run / "weights.safetensors")),
                          "loss": read_metrics(run)[-1]["loss"]}
    return out


SYSTEMS = {"dsprites": dsprites, "multimodal": multimodal, "crossmodal": crossmodal, "vsa": vsa}


def compute(name: str) -> dict[str, Any]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return SYSTEMS[name]()
    finally:
        torch.set_num_threads(before)


if __name__ == "__main__":
    names = sys.argv[1:] or list(SYSTEMS)
    print(json.dumps({n: compute(n) for n in names}, indent=1))
