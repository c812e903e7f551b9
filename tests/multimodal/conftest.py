"""Small simulated data sets shared by the multimodal tests, and training through the one loop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from betavae.data.sensorimotor import simulate
from betavae.data.sensorimotor_simulator import SimulatorConfig

#: the data config of ``sim_tiny``
TINY_DATA = {"kind": "sensorimotor", "seed": 1, "simulator": {"n_train": 300, "n_test": 200}}


def member_configs(seeds: Sequence[int], schedules, *, data=None, model=None, objective=None, **train):
    """Run configs of the sensorimotor task: one per seed, schedule k for seed k (or one for all)."""
    from betavae.config import build_config

    schedules = list(schedules) if isinstance(schedules, (list, tuple)) else [schedules] * len(seeds)
    tr = {"epochs": 4, "batch_size": 200, "lr": 1e-3, "log_every": 1, "checkpoint_every": 1000,
          "device": "cpu", "threads": 1, "report": False} | train
    return [build_config({"name": "t", "seed": s, "data": data or TINY_DATA, "model": {"kind": "zambelli", **(model or {})},
                          "objective": {"kind": "multimodal_elbo", "alpha": a.model_dump(), **(objective or {})},
                          "train": tr})
            for s, a in zip(seeds, schedules, strict=True)]


def fit(seeds: Sequence[int], schedules, **kw):
    """Train the members through :class:`~betavae.train.loop.Loop`: (loop, history {term: (epochs, K)})."""
    from betavae.train.loop import Loop

    loop = Loop(member_configs(seeds, schedules, **kw))
    rows: list[list[dict]] = [[] for _ in seeds]
    loop.fit(lambda k, row: rows[k].append(row), lambda k, state: None)
    hist = {t: np.array([[r[e][t] for r in rows] for e in range(len(rows[0]))]) for t in ("loss", "recon", "kl", "alpha")}
    return loop, hist


@pytest.fixture(scope="session")
def sim_default():
    """The simulator at the sizes of the original files (1845 train, 1487 test rows)."""
    return simulate(SimulatorConfig(), seed=0)


@pytest.fixture(scope="session")
def sim_tiny():
    """A tiny data set for training tests: 300 clean rows -> 1200 augmented, 200 test rows."""
    return simulate(SimulatorConfig(n_train=300, n_test=200), seed=1)


@pytest.fixture(scope="session")
def trained_small():
    """Two const0 models trained 40 epochs at lr 1e-3 on the tiny set: (stacked model, history)."""
    from betavae.multimodal.schedules import study_schedule

    loop, hist = fit([0, 1], study_schedule("const0", 40), epochs=40)
    return loop.task.model, hist


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """These models are tiny: one thread avoids oversubscribing a shared, busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
