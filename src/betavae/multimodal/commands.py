"""``bvae multimodal``: the simulator's data in the original files' layout, and a trained run's
weights used as Zambelli et al. (2020) used them (``use``).

The study is a sweep (``bvae sweep sweep_multimodal_langer``) and one model a run
(``bvae train multimodal_zambelli``); see docs/multimodal.md.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def multimodal() -> None:
    """Multimodal sensorimotor VAEs (Zambelli et al. 2020): the simulator's data, a run's weights in
    use. Train with `bvae train multimodal_zambelli`, run the study with `bvae sweep sweep_multimodal_langer`."""


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


@multimodal.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--mode", type=click.Choice(["vision_only", "predict_next", "rollout"]), required=True,
              help="vision_only: everything from v_t, v_{t-1}; predict_next: the t blocks from the t-1 blocks; "
                   "rollout: predict_next, then each prediction becomes the next input's t-1 blocks.")
@click.option("--data", type=click.Path(path_type=Path),
              help="Clean rows (M, 28) in trajectory order from a .mat/.npz file (default: the run's test rows).")
@click.option("--key", help="The array of --data to read.  [default: final_database_test]")
@click.option("--steps", type=click.IntRange(min=1), default=5, show_default=True, help="Rollout steps.")
@click.option("--start", type=click.Choice(["prediction", "vision_only"]), default="prediction", show_default=True,
              help="The rollout's first input: the t-1 blocks (step 1 = predict_next), or vision only (spec test 5).")
@click.option("--inject-vision", is_flag=True, help="Rollout: feed the observed v_t of each predicted row back in.")
@click.option("--rows", help="START:END of the rows (from 0, END excluded).  [default: 100:1100, or all if fewer]")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file to write.  [default: RUN_DIR/use_<mode>.json]")
def use(run_dir: Path, mode: str, data: Path | None, key: str | None, steps: int, start: str,
        inject_vision: bool, rows: str | None, out: Path | None) -> None:
    """Use a trained run's weights as Zambelli et al. did: full data from vision only, the next
    step from the previous one, or the rollout; errors per modality block, raw RMSE and normalised
    by the spread of the block's targets (1 = no better than predicting the mean, 0 = exact).

    Prints: the table. Writes: the JSON file of --out (default RUN_DIR/use_<mode>.json).
    """
    from betavae.io import atomic_write_json
    from betavae.multimodal.runs import load_member
    from betavae.multimodal.use import table, use_run

    if mode != "rollout" and (start != "prediction" or inject_vision):
        raise click.UsageError("--start and --inject-vision are options of --mode rollout")
    result = use_run(run_dir, mode, data, key, steps, start, inject_vision, rows)
    for line in table(result, list(load_member(run_dir).layout.names)):
        click.echo(line)
    out = out if out is not None else Path(run_dir) / f"use_{mode}.json"
    atomic_write_json(out, result)
    click.echo(f"wrote {out}")
