"""``bvae vsa``: generate the datasets and check their defining property.

Training is ``bvae train vsa_paired`` (``vsa_scenes``, ``vsa_paired_scenes``): the one loop;
evaluation is ``bvae eval RUN`` (the vsa evaluator); the source's grid is ``bvae sweep
sweep_vsa_grid``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click


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
    from betavae.vsa.study import STAGE_DATA

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
    elif kind == "sd":
        from betavae.data.scene_dsprites import realised_histograms

        stats["objects"] = {str(v): int((batch.n == v).sum()) for v in np.unique(batch.n)}
        stats["histograms"] = realised_histograms(batch)
        click.echo(f"{count} scenes, objects per scene: {stats['objects']}")
    else:
        stats["changed"] = {FACTOR_NAMES[f]: int((batch.k == f).sum()) for f in range(5)}
        click.echo(f"{count} paired scenes, changed: {stats['changed']}")
    click.echo(f"{rate:.0f} items/s (renderer templates built on first use are included; "
               "bench/bench_vsa.py times a warm renderer)")
    if out is not None:
        from betavae.vsa.figures import dataset_figure, dataset_pictures

        atomic_write_json(out / "stats.json", stats)
        path = dataset_figure(*dataset_pictures(kind, batch), out / "examples.png")
        click.echo(f"wrote {path} and {out / 'stats.json'}")
