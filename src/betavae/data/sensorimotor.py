"""The sensorimotor data set from the simulator, and the config that picks simulator or files.

:func:`simulate` fills a :class:`~betavae.data.sensorimotor_rows.Sensorimotor` (the container
both sources fill) from the arm-and-keyboard simulator (spec §9);
:func:`betavae.data.sensorimotor_files.load_sensorimotor` from files.
:class:`SensorimotorConfig` (``data.kind: sensorimotor``) chooses between them in a run config:
the simulator by default, the original files when both paths are given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_serializer, model_validator

from betavae.bounds import Seed
from betavae.data import DATA
from betavae.data.base import DataConfig
from betavae.data.sensorimotor_layout import Layout, augment, reference_layout
from betavae.data.sensorimotor_rows import Sensorimotor
from betavae.data.sensorimotor_simulator import (
    SimulatorConfig,
    normalise_pixels,
    sense,
    simulate_states,
)
from betavae.errors import BetavaeError


def clean_rows(cfg: SimulatorConfig, rng: np.random.Generator, n_rows: int) -> dict[str, np.ndarray]:
    """``n_rows`` clean rows (n_rows, D) in trajectory order, with ground truth per row.

    Returns ``x`` (rows), ``episode`` (rows,), ``q`` (rows, 2, J) physical joints at (t, t−1),
    ``tip`` (rows, 2, 2) fingertip at (t, t−1), ``blocked`` (rows,) whether the move into t was
    rejected, ``onset`` (rows,) whether a note started at t, ``m`` (rows, 2, J) rad/s.
    """
    per = cfg.episode_steps
    n_ep = -(-n_rows // per)
    st = simulate_states(rng, n_ep, cfg)
    se = sense(st, rng, cfg)
    lo, hi = cfg.limits()
    jn = 2.0 * (st["q"] - lo) / (hi - lo) - 1.0
    mn = st["m"] / cfg.m_max
    vis = np.clip(normalise_pixels(se["vision_px"], cfg), -1.0, 1.0)

    def pair(a: np.ndarray) -> np.ndarray:  # (E, T+1, k) -> (E, T, 2k): newer then older
        a = a if a.ndim == 3 else a[..., None]
        return np.concatenate([a[:, 1:], a[:, :-1]], axis=-1)

    x = np.concatenate([pair(jn), pair(vis), pair(se["touch"]), pair(se["sound"]), pair(mn)], -1)

    def rows(a: np.ndarray) -> np.ndarray:
        return a.reshape(n_ep * per, *a.shape[2:])[:n_rows]

    stack = lambda a: np.stack([a[:, 1:], a[:, :-1]], axis=2)  # noqa: E731  (E, T, 2, ...)
    return {
        "x": rows(x),
        "episode": rows(np.repeat(np.arange(n_ep)[:, None], per, 1)),
        "q": rows(stack(st["q"])),
        "m": rows(stack(st["m"])),
        "tip": rows(stack(st["tip"])),
        "blocked": rows(st["blocked"][:, 1:]),
        "onset": rows(se["onset"][:, 1:]),
        "sound_any": rows(stack(se["sound"])),
    }


def simulate(cfg: SimulatorConfig | None = None, seed: int = 0) -> Sensorimotor:
    """Simulated training (augmented to 4 groups) and test sets; deterministic in ``seed``.

    Train and test come from independent streams of one seed, so changing ``n_test`` never
    changes the training rows.
    """
    cfg = cfg or SimulatorConfig()
    layout = cfg.layout()
    ss = np.random.SeedSequence([seed, 9])
    train_ss, test_ss = ss.spawn(2)
    train = clean_rows(cfg, np.random.default_rng(train_ss), cfg.n_train)
    test = clean_rows(cfg, np.random.default_rng(test_ss), cfg.n_test)
    inputs, targets, groups = augment(train["x"], layout)
    return Sensorimotor(inputs, targets, groups, test["x"], layout, test["episode"],
                        source=f"simulator(seed={seed})", extras={"train": train, "test": test})


@DATA.register("sensorimotor")
class SensorimotorConfig(DataConfig):
    """The multimodal sensorimotor rows (spec §8–§9): the seeded simulator (``seed``,
    ``simulator``) by default, or the original ``.mat``/``.npz`` files when ``train_path`` and
    ``test_path`` are given (nothing is bundled or downloaded; ``augment: true`` builds the four
    muting groups from a clean (N, 28) training array).

    What is written (``config.yaml``, the run id's hash) is what is used: data from files carries
    neither ``seed`` nor ``simulator``, and simulated data no ``augment`` (a file option).
    """

    kind: Literal["sensorimotor"] = "sensorimotor"
    train_path: Path | None = None
    test_path: Path | None = None
    augment: bool = False
    seed: Seed = 0
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)

    @property
    def from_files(self) -> bool:
        return self.train_path is not None or self.test_path is not None

    @model_validator(mode="after")
    def _augment_needs_files(self) -> SensorimotorConfig:
        if self.augment and not self.from_files:
            raise ValueError("augment builds the muting groups of a clean training file: it needs "
                             "data.train_path (the simulator's rows are augmented already)")
        return self

    @model_serializer(mode="wrap")
    def _written(self, handler):  # noqa: ANN001, ANN202 (pydantic's serializer protocol)
        tree = handler(self)
        drop = ("seed", "simulator") if self.from_files else ("augment",)
        return {k: v for k, v in tree.items() if k not in drop}

    def build(self) -> Sensorimotor:  # type: ignore[override]
        if not self.from_files:
            return simulate(self.simulator, self.seed)
        if self.train_path is None or self.test_path is None:
            raise BetavaeError("sensorimotor data from files needs both data.train_path and data.test_path")
        from betavae.data.sensorimotor_files import load_sensorimotor

        return load_sensorimotor(self.train_path, self.test_path, augment=self.augment)

    def check(self) -> None:
        """Read and validate the files (spec §8; a second or less for the original files'
        sizes); nothing for the simulator."""
        if self.from_files:
            self.build()

    def layout(self) -> Layout:
        """The column layout of the rows :meth:`build` gives (without building them)."""
        if not self.from_files:
            return self.simulator.layout()
        return reference_layout()
