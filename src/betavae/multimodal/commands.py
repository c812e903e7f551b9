"""``bvae multimodal``: the simulator's data in the original files' layout.

The study is a sweep (``bvae sweep sweep_multimodal_langer``) and one model a run
(``bvae train multimodal_zambelli``); see docs/multimodal.md.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def multimodal() -> None:
    """Multimodal sensorimotor VAEs (Zambelli et al. 2020): the simulator's data. Train with
    `bvae train multimodal_zambelli`, run the study with `bvae sweep sweep_multimodal_langer`."""


@multimodal.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A .mat or .npz file (the reference keys: final_database_train / _test).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--n-train", type=click.IntRange(min=1), default=1845, show_default=True, help="Clean training rows.")
@click.option("--n-test", type=click.IntRange(min=1), default=1487, show_default=True, help="Test rows.")
def simulate(out: Path, seed: int, n_train: int, n_test: int) -> None:
    """Write the arm-and-keyboard simulator's data in the layout of the original files.

    Writes: the .mat or .npz file given by --out.
    """
    from betavae.data.sensorimotor import simulate as run_simulator
    from betavae.data.sensorimotor_files import as_train56, save_sensorimotor
    from betavae.data.sensorimotor_simulator import SimulatorConfig

    data = run_simulator(SimulatorConfig(n_train=n_train, n_test=n_test), seed)
    save_sensorimotor(out, as_train56(data), data.test)
    x = data.train_clean
    click.echo(f"touch rate {(x[:, 16] > 0).mean():.3f}, sound rate {(x[:, 18] > 0).mean():.3f}")
    click.echo(f"wrote {out} ({len(data.train_input)} training rows, {len(data.test)} test rows)")
