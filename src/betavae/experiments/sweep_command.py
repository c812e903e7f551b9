"""``bvae sweep``: run a sweep file with the local or the Ray executor (thin; logic in study.py)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("sweep_file")
@click.option("--executor", "kind", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: Ray core tasks (pip install 'betavae[ray]').")
@click.option("--workers", type=click.IntRange(min=1),
              help="Runs at once (default: one per core; with --address, as many as the cluster's CPUs fit).")
@click.option("--threads", type=click.IntRange(min=1), help="Torch threads per run (default 1).")
@click.option("--address", help="Ray cluster to join (auto, HOST:PORT or ray://HOST:PORT); default: start one here.")
@click.option("--gpus-per-run", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Ray: fraction of a GPU per run (0.25 packs four runs on one GPU).")
@click.option("--runs-dir", type=click.Path(path_type=Path),
              help="Sweep directory (run folders, lock, sweep.csv/json, index); default runs/<sweep name>. "
                   "With Ray on several machines it must be on a shared file system.")
@click.option("--retry-failed", is_flag=True, help="Run again the runs that failed with an error.")
@click.option("--dry-run", is_flag=True, help="List the runs and what each needs; run nothing.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache folder (as for bvae train).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Each training task's progress line (step, epoch, loss, time in and left) on stderr every "
                   "--progress-every seconds (local executor; Ray keeps its workers' output in its logs).")
@click.option("--progress-every", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds between a task's progress lines.")
def sweep(sweep_file: str, kind: str, workers: int | None, threads: int | None, address: str | None,
          gpus_per_run: float, runs_dir: Path | None, retry_failed: bool, dry_run: bool,
          cache_dir: Path | None, progress: bool, progress_every: float) -> None:
    """Run every unfinished run of SWEEP_FILE (a path or a shipped sweep name); skip finished ones.

    Writes: into the sweep directory (--runs-dir, default runs/<sweep name>/): a run folder per
    run (as bvae train, with eval.json and report.html), sweep.csv, sweep.json, index.html and
    index.md. --dry-run prints the runs and writes nothing.
    """
    from betavae.cache import set_cache_dir
    from betavae.errors import BetavaeError
    from betavae.experiments.executors import make_executor, work_needed
    from betavae.experiments.study import run_sweep
    from betavae.experiments.sweep import load_sweep
    from betavae.shipped import resolve_config_path

    set_cache_dir(cache_dir)
    spec = load_sweep(resolve_config_path(sweep_file, command="sweep"))
    runs_dir = runs_dir if runs_dir is not None else Path("runs") / spec.spec.name
    if dry_run:
        for run in spec.expand():
            need = work_needed(runs_dir / run.run_id, spec.spec.evaluate is not None, spec.spec.report)
            click.echo(f"{run.run_id:40s} {need:9s} {run.assignments}")
        return
    if kind == "local" and (address or gpus_per_run):
        raise BetavaeError("--address and --gpus-per-run are options of --executor ray")
    options = {"address": address, "gpus_per_run": gpus_per_run} if kind == "ray" else {}
    with make_executor(kind, workers, threads, spec.spec.max_retries, **options) as executor:
        outcome = run_sweep(spec, executor, runs_dir, retry_failed, progress=click.echo,
                            progress_every=progress_every if progress else None)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(outcome.statuses.items()))
    click.echo(f"{outcome.total} runs ({statuses}) in {outcome.wall_seconds:.1f} s; "
               f"table: {runs_dir / 'sweep.csv'}" + (f"; index: {outcome.index}" if outcome.index else ""))
