"""``bvae vsa``: generate the datasets, evaluate runs, and rerun the source's grid.

Training is ``bvae train vsa_paired`` (``vsa_scenes``, ``vsa_paired_scenes``): the one loop.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from betavae.errors import BetavaeError

KEY_METRICS = ("vsa.direct.iou", "vsa.swap.iou", "vsa.swap.bce", "vsa.scene.iou", "vsa.scene.bce",
               "vsa.direct_scene.iou", "vsa.object.iou", "vsa.scene.count_acc", "vsa.swap_acc.changed",
               "vsa.swap_acc.preserved", "vsa.swap_acc.full", "vsa.swap_acc.other_full",
               "vsa.latent.cos_shared", "vsa.latent.cos_changed", "vsa.unbind.iou", "vsa.probe.diagonal",
               "vsa.probe.off_diagonal", "vsa.recombination.full", "vsa.classifier.full", "vsa.good")


def _echo_metrics(metrics: dict) -> None:
    for key in KEY_METRICS:
        if key in metrics:
            v = metrics[key]
            click.echo(f"{key:28s} {v if isinstance(v, bool) else f'{v:.4f}'}")


@click.group()
def vsa() -> None:
    """dSprites-VSA: paired and scene dSprites, a VAE of five feature vectors, swap training."""


@vsa.command()
@click.option("--kind", type=click.Choice(["pd", "sd", "psd"]), default="pd", show_default=True,
              help="Paired-dSprites, Scene-dSprites or Paired-Scene-dSprites.")
@click.option("--n", "count", type=click.IntRange(min=1), default=256, show_default=True, help="Items to generate.")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--feature", "features", multiple=True,
              help="Only this feature may change (repeatable): shape, scale, orientation, posX, posY.")
@click.option("--n-min", type=int, default=2, show_default=True, help="Fewest sprites per scene (2..5).")
@click.option("--n-max", type=int, default=5, show_default=True, help="Most sprites per scene (2..5).")
@click.option("--gap", type=click.IntRange(min=0), default=1, show_default=True,
              help="Sprites keep this Chebyshev distance in pixels.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write examples.png and stats.json here.")
def data(kind: str, count: int, split: str, seed: int, features: tuple[str, ...], n_min: int, n_max: int,
         gap: int, out: Path | None) -> None:
    """Generate items, check their defining property, print the rate (and write pictures).

    Writes: only with --out: examples.png and stats.json there.
    """
    import numpy as np

    from betavae.config import build_config
    from betavae.data.dsprites import FACTOR_NAMES
    from betavae.data.dsprites_split import factor_index
    from betavae.io import atomic_write_json
    from betavae.vsa.grid import STAGE_DATA

    for name in features:
        factor_index(name)
    tree = {"data": {"kind": STAGE_DATA[kind], "seed": seed, "n_min": n_min, "n_max": n_max, "gap": gap}}
    if features:
        tree["data"]["feature_weights"] = dict.fromkeys(features, 1.0)
    ds = build_config(tree).data.build(split)
    ds.batch(range(min(count, 64)))  # build the renderer's templates before timing
    t0 = time.perf_counter()
    batch = ds.batch(range(count))
    rate = count / (time.perf_counter() - t0)
    stats: dict = {"kind": kind, "n": count, "items_per_s": rate}
    if kind == "pd":
        differ = (batch.c1 != batch.c2).sum(1)
        stats["changed"] = {FACTOR_NAMES[f]: int((batch.k == f).sum()) for f in range(5)}
        click.echo(f"{count} pairs, factors differing per pair: {sorted(set(differ.tolist()))}, "
                   f"changed: {stats['changed']}")
        pics, titles = [batch.x1, batch.x2], ["x1", "x2"]
    elif kind == "sd":
        from betavae.data.scene_dsprites import realised_histograms

        stats["objects"] = {str(v): int((batch.n == v).sum()) for v in np.unique(batch.n)}
        stats["histograms"] = realised_histograms(batch)
        click.echo(f"{count} scenes, objects per scene: {stats['objects']}")
        pics, titles = [batch.x, *(batch.objects[:, m] for m in range(3))], ["scene", "obj 1", "obj 2", "obj 3"]
    else:
        stats["changed"] = {FACTOR_NAMES[f]: int((batch.k == f).sum()) for f in range(5)}
        click.echo(f"{count} paired scenes, changed: {stats['changed']}")
        pics, titles = [batch.s1, batch.s2, batch.a, batch.a2, batch.b], ["scene", "pair scene", "A", "A'", "B"]
    click.echo(f"{rate:.0f} items/s (renderer templates built on first use are included; "
               "bench/bench_vsa.py times a warm renderer)")
    if out is not None:
        from betavae.vsa.figures import dataset_figure

        atomic_write_json(out / "stats.json", stats)
        click.echo(f"wrote {dataset_figure(pics, titles, out / 'examples.png')} and {out / 'stats.json'}")


def _progress(progress: bool | None) -> list:
    from betavae.train.callbacks import ProgressBar

    return [ProgressBar(disable=None if progress is None else not progress)]


@vsa.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--diagnostics/--no-diagnostics", default=True, show_default=True,
              help="Slot probe and recombination (slower).")
@click.option("-s", "--set", "overrides", multiple=True,
              help="Evaluation setting key=value, e.g. -s n_items=256 -s classifier.steps=2000.")
def eval_command(run_dir: Path, diagnostics: bool, overrides: tuple[str, ...]) -> None:
    """Evaluate a vsa run folder (from `bvae train vsa_paired` ...) on the test split.

    Writes: RUN_DIR/eval.json and RUN_DIR/swap.png; prints the measures.
    """
    from betavae.vsa.evaluate import evaluate_run
    from betavae.vsa.settings import eval_settings

    _echo_metrics(evaluate_run(run_dir, eval_settings(None, overrides), diagnostics=diagnostics))
    click.echo(f"wrote {run_dir / 'eval.json'}")


@vsa.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Grid folder.")
@click.option("--config", "grid_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Grid file (default: the shipped configs/vsa_grid.yaml).")
@click.option("--rows", help="Rows to run, e.g. 1-5,14 (default: all 17).")
@click.option("--seeds", help="Comma-separated seeds (default: the grid file's).")
@click.option("--steps", type=click.IntRange(min=1), help="Training steps per run (shorter than the source's).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Batch size per run.")
@click.option("-s", "--set", "overrides", multiple=True,
              help="dotted.key=value applied to every run's config (eval.key=value: to the evaluation).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal).")
def grid(out: Path, grid_file: Path | None, rows: str | None, seeds: str | None, steps: int | None,
         batch_size: int | None, overrides: tuple[str, ...], progress: bool | None) -> None:
    """Rerun the source's 17-setting table; print it beside the source's Good/Bad column.

    Writes: into --out: a run folder per row and seed (row<NN>-<hash>-s<seed>/, as bvae train),
    each with eval.json and swap.png, and grid.json and grid.md.
    """
    from betavae.vsa.grid import load_grid, parse_ids, run_grid, summarise, table_markdown

    spec = load_grid(grid_file)
    ids = parse_ids(rows, [r.id for r in spec.rows])
    try:
        seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    except ValueError:
        raise BetavaeError(f"--seeds {seeds!r}: give comma-separated integers such as 0,1,2") from None
    extra = list(overrides)
    if steps is not None:
        extra.append(f"train.steps={steps}")
    if batch_size is not None:
        extra.append(f"train.batch_size={batch_size}")
    records = run_grid(spec, out, extra, ids, seed_list, callbacks=_progress(progress))
    click.echo(table_markdown(summarise(spec, records)))
    click.echo(f"wrote {out / 'grid.md'} and {out / 'grid.json'}")
