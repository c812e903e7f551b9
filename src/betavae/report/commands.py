"""``bvae traverse`` and ``bvae report``: parse, call the library, print the paths written."""

from __future__ import annotations

from pathlib import Path

import click

from betavae.errors import BetavaeError

_images = click.option("--images", "n_images", type=click.IntRange(min=1), default=512, show_default=True,
                       help="Images drawn uniformly from the factor grid and encoded (KL order, statistics).")
_seeds = click.option("--seeds", "n_seeds", type=click.IntRange(1, 32), default=3, show_default=True,
                      help="Seed images to traverse from.")
_rng = click.option("--rng-seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the image draw.")


def _progress(message: str) -> None:
    click.echo(f"  {message}", err=True)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@_seeds
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: RUN_DIR/report).")
@_images
@_rng
@click.option("--relative", is_flag=True,
              help="Traverse μ_j + linspace(−3, 3, 10) around the seed's mean instead of z_j = −3 … 3.")
def traverse(run_dir: Path, n_seeds: int, out: Path | None, n_images: int, rng_seed: int, relative: bool) -> None:
    """Latent traversals of a trained run: a PNG grid per seed image and an animated GIF.

    Rows are latents sorted by mean KL (printed beside each row); columns are the seed image, its
    reconstruction and 10 values in [−3, 3] of the row's latent, the others at the seed's mean.

    Writes: traverse_seed<i>.png per seed image and traverse.gif into --out (default
    RUN_DIR/report/); prints their paths.
    """
    from betavae.viz.traverse import write_traversals

    paths = write_traversals(run_dir, out, n_seeds=n_seeds, rng_seed=rng_seed, n_images=n_images,
                             relative=relative)
    for path in paths.values():
        click.echo(f"wrote {path}")


@click.command()
@click.argument("path", type=click.Path(path_type=Path), default=Path("runs"))
@_seeds
@_images
@_rng
@click.option("--device", default="cpu", show_default=True, help="Device for encoding (cpu, cuda, auto).")
@click.option("--index-only", is_flag=True,
              help="For a folder of runs: write only the index, keeping the runs' existing reports.")
def report(path: Path, n_seeds: int, n_images: int, rng_seed: int, device: str, index_only: bool) -> None:
    """Write report.html and report.md for a run folder, or an index for a folder of runs (default runs/).

    The pages open from disk (no server, no network). For a folder of runs each run's report is
    (re)written first unless --index-only.

    Writes: RUN_DIR/report.html, report.md and figures in RUN_DIR/report/; for a folder of runs,
    also PATH/index.html, index.md and figures in PATH/index/.
    """
    from betavae.report.build import write_report
    from betavae.report.index import write_index
    from betavae.report.inputs import is_run_dir
    from betavae.report.rows import find_runs

    options = {"n_images": n_images, "n_seeds": n_seeds, "rng_seed": rng_seed, "device": device}
    if not path.is_dir():
        raise BetavaeError(f"{path} is not a folder; give a run folder or a folder of runs")
    if is_run_dir(path):
        written = write_report(path, progress=_progress, **options)
    elif find_runs(path):
        written = write_index(path, build_runs=not index_only, progress=_progress, **options)
    else:
        raise BetavaeError(f"{path} is neither a run folder nor a folder of runs "
                           "(no config.yaml, metrics.jsonl, meta.json or weights in it or its sub-folders)")
    click.echo(f"wrote {written}")
