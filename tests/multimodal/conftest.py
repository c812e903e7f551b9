"""Small simulated data sets shared by the multimodal tests."""

from __future__ import annotations

import pytest

from betavae.data.sensorimotor import simulate
from betavae.multimodal.simulator import SimulatorConfig


@pytest.fixture(scope="session")
def sim_default():
    """The simulator at the sizes of the original files (1845 train, 1487 test rows)."""
    return simulate(SimulatorConfig(), seed=0)


@pytest.fixture(scope="session")
def sim_tiny():
    """A tiny data set for training tests: 300 clean rows -> 1200 augmented, 200 test rows."""
    return simulate(SimulatorConfig(n_train=300, n_test=200), seed=1)


@pytest.fixture(scope="session")
def trained_small(sim_tiny):
    """Two const0 models trained 40 epochs at lr 1e-3 on the tiny set: (trainer, data)."""
    from betavae.multimodal.train import EnsembleTrainer

    from betavae.multimodal.schedules import study_schedule
    from betavae.multimodal.settings import TrainSettings

    settings = TrainSettings(epochs=40, batch_size=200, lr=1e-3)
    trainer = EnsembleTrainer(sim_tiny, [0, 1], study_schedule("const0", 40), settings)
    for _ in range(settings.epochs):
        trainer.train_epoch()
    return trainer


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """These models are tiny: one thread avoids oversubscribing a shared, busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
