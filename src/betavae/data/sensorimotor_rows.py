"""The container both sensorimotor sources fill (the simulator and the original files).

:class:`Sensorimotor` holds the augmented training rows (input, clean target, group) and the
clean test rows in trajectory order (spec §2, §8). :func:`betavae.data.sensorimotor.simulate`
fills it from the simulator, :func:`betavae.data.sensorimotor_files.load_sensorimotor` from files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from betavae.data.sensorimotor_layout import Layout, reference_layout


@dataclass
class Sensorimotor:
    """train_input / train_target: (N, D) float64, train_group: (N,) in 1..4, test: (M, D) clean.

    ``test_episode`` (M,) numbers the trajectory of each test row where known (−1 otherwise);
    ``extras`` carries physical ground truth from the simulator (used by the consistency tests).
    """

    train_input: np.ndarray
    train_target: np.ndarray
    train_group: np.ndarray
    test: np.ndarray
    layout: Layout = field(default_factory=reference_layout)
    test_episode: np.ndarray | None = None
    source: str = "arrays"
    extras: dict = field(default_factory=dict)

    @property
    def train_clean(self) -> np.ndarray:
        """The group-1 (complete) training rows."""
        return self.train_target[self.train_group == 1]

    def consecutive(self) -> np.ndarray:
        """(M−1,) True where test row k+1 continues row k's trajectory (its t−1 joints equal
        row k's t joints, §1), and the episode numbers agree where known."""
        lay = self.layout
        same = np.all(self.test[1:, lay.columns("joints", "older")]
                      == self.test[:-1, lay.columns("joints", "newer")], axis=1)
        if self.test_episode is not None:
            same &= self.test_episode[1:] == self.test_episode[:-1]
        return same
