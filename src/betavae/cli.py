"""The ``bvae`` command line: parse, call library functions, print. No logic of its own.

Errors raised as :class:`~betavae.errors.BetavaeError` are printed as one line (exit code 2);
``--debug`` anywhere on the command line shows the traceback instead.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import click

from betavae.errors import BetavaeError
from betavae.shipped import (
    resolve_config_path,
    shipped_command,
    shipped_names,
    shipped_path,
    split_args,
)


@click.group(help="β-VAE representation learning: train, schedule, evaluate, look at, study.")
def cli() -> None:
    pass


@cli.command()
@click.argument("args", nargs=-1)
@click.option("--resume", type=click.Path(path_type=Path), help="Continue this run folder.")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Where run folders are made.")
@click.option("--cache-dir", type=click.Path(path_type=Path),
              help="Cache folder (default: $BETAVAE_CACHE_DIR or ~/.cache/betavae).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on a terminal, or a plain line every --progress-every seconds when "
                   "output goes to a file or pipe (default: the bar or the lines, whichever fits).")
@click.option("--progress-every", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds between progress lines when stderr is not a terminal.")
@click.option("--seeds", help="Train these seeds as one ensemble (0,1,2,3 or 0-3): one run folder each.")
def train(args: tuple[str, ...], resume: Path | None, runs_dir: Path, cache_dir: Path | None,
          progress: bool | None, progress_every: float, seeds: str | None) -> None:
    """Train: bvae train [CONFIG.yaml | SHIPPED_NAME] [dotted.key=value ...] [--seeds 0,1,2,3].

    Writes: RUNS_DIR/<name>-<config hash>-s<seed>/ (config.yaml, metrics.jsonl, meta.json,
    state.pt, weights.safetensors, report.html); prints its path when training starts and ends.
    """
    if seeds is not None or (resume is not None and _ensemble_member(resume)):
        return _train_ensemble(args, resume, runs_dir, cache_dir, progress_callbacks(progress, progress_every), seeds)
    from betavae.cache import set_cache_dir
    from betavae.config import load_config
    from betavae.experiments.run import resume as resume_run
    from betavae.experiments.run import train as train_run
    from betavae.experiments.rundir import read_meta

    set_cache_dir(cache_dir)
    callbacks = progress_callbacks(progress, progress_every)
    if resume is not None:
        if args:
            raise BetavaeError("--resume takes no config or overrides: a run's config never changes")
        status = read_meta(resume).get("status") if resume.is_dir() else None
        run_dir = resume_run(resume, callbacks)
        if status == "finished":
            click.echo(f"run folder: {run_dir} (already finished at step "
                       f"{read_meta(run_dir).get('step', '?')}; nothing to do)")
            return
    else:
        name, overrides = split_args(args)
        config = load_config(resolve_config_path(name) if name else None, overrides)
        run_dir = train_run(config, runs_dir, callbacks)
    stopped = read_meta(run_dir).get("stopped")
    if stopped:
        click.echo(f"stopped early at step {stopped['step']}: {stopped['reason']} (train.stop_when)")
    click.echo(f"run folder: {run_dir}")


def progress_callbacks(progress: bool | None, every_s: float) -> list:
    """The run-folder line, and a bar on a terminal or plain lines (stderr) otherwise."""
    from betavae.train.callbacks import ProgressBar, ProgressLines, RunFolderLine

    callbacks = [RunFolderLine(click.echo)]
    if progress or (progress is None and sys.stderr.isatty()):
        callbacks.append(ProgressBar(disable=False))
    elif progress is None:
        callbacks.append(ProgressLines(lambda line: click.echo(line, err=True), every_s))
    return callbacks


def _ensemble_member(run_dir: Path) -> bool:
    from betavae.experiments.run import is_ensemble_member

    return is_ensemble_member(run_dir)


def _train_ensemble(args: tuple[str, ...], resume: Path | None, runs_dir: Path, cache_dir: Path | None,
                    callbacks: list, seeds: str | None) -> None:
    """``bvae train --seeds``, and ``--resume`` of a member (continues the whole ensemble)."""
    from betavae.cache import set_cache_dir
    from betavae.config import load_config
    from betavae.experiments.run import resume_ensemble, train_ensemble
    from betavae.train.ensemble import parse_seeds, seed_configs

    set_cache_dir(cache_dir)
    if resume is not None:
        if args or seeds:
            raise BetavaeError("--resume takes no config, overrides or seeds: a run's config never changes")
        run_dirs = resume_ensemble(resume, callbacks)
    else:
        name, overrides = split_args(args)
        config = load_config(resolve_config_path(name) if name else None, overrides)
        run_dirs = train_ensemble(seed_configs(config, parse_seeds(seeds)), runs_dir, callbacks)
    for run_dir in run_dirs:
        click.echo(f"run folder: {run_dir}")


@cli.command()
@click.argument("name")
@click.argument("params", nargs=-1)
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Counter range to plot.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("schedule.png"), show_default=True,
              help="PNG file to write.")
def schedule(name: str, params: tuple[str, ...], steps: int, out: Path) -> None:
    """Plot a schedule: bvae schedule NAME [key=value ...] --steps N --out FILE.png.

    Writes: the PNG given by --out (default schedule.png in the current folder).
    """
    from betavae.config import parse_override
    from betavae.schedules import SCHEDULES, schedule_from_dict
    from betavae.viz.schedule import plot_schedule

    if name not in SCHEDULES:
        raise BetavaeError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES.names())}")
    spec: dict = {"kind": name}
    for p in params:
        key, value = parse_override(p)
        spec[key] = value
    path = plot_schedule(schedule_from_dict(spec), steps, out)
    click.echo(f"wrote {path}")


@cli.command("ls")
@click.argument("runs_dir", type=click.Path(path_type=Path), default=Path("runs"))
def list_runs(runs_dir: Path) -> None:
    """List the runs under RUNS_DIR (default runs/; a sweep's runs included).

    Prints: a table of each run's status and key figures, and how to continue each interrupted
    run. Writes nothing.
    """
    from betavae.experiments.summary import format_table, resume_hints, summarise_runs

    rows = summarise_runs(runs_dir)
    click.echo(format_table(rows))
    for hint in resume_hints(rows, runs_dir):
        click.echo(hint)


@cli.command()
def configs() -> None:
    """List every shipped YAML file with the command that takes it.

    Prints: each file's name, its command and the first sentence of its comment. Writes nothing.
    """
    names = shipped_names()
    width = max(len(n) for n in names)
    command_width = max(len(shipped_command(n)) for n in names)
    for name in names:
        click.echo(f"{name:{width}s}  {shipped_command(name):{command_width}s}  "
                   f"{first_sentence(shipped_path(name))}")


def first_sentence(path: Path) -> str:
    """The first sentence of a YAML file's leading comment block."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines)
    return re.split(r"(?<!e\.g\.)(?<!i\.e\.)(?<!\bal\.)(?<!\bcf\.)(?<=[.?])\s", text, maxsplit=1)[0]


from betavae.report.commands import report, traverse  # noqa: E402

cli.add_command(report)
cli.add_command(traverse)

from betavae.experiments.sweep_command import sweep  # noqa: E402

cli.add_command(sweep)

from betavae.multimodal.commands import multimodal  # noqa: E402

cli.add_command(multimodal)

from betavae.crossmodal.commands import crossmodal  # noqa: E402
from betavae.vsa.commands import vsa  # noqa: E402

cli.add_command(crossmodal)
cli.add_command(vsa)

from betavae.zoo.commands import zoo  # noqa: E402

cli.add_command(zoo)


@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--codes", type=click.Path(path_type=Path),
              help="Score a .npz (arrays codes, factors[, codes_test, factors_test, factor_names]) or a .csv "
                   "(header: factor:NAME and code:NAME columns, optional split column) instead of a run.")
@click.option("--metrics", help="Comma-separated metric names (default: all).")
@click.option("--preset", type=click.Choice(["default", "fast"]), default=None,
              help="Settings and sizes: default (disentanglement_lib) or fast.  [default: default]")
@click.option("--fast", is_flag=True, help="Same as --preset fast.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Replicates for 95% intervals of the array metrics (0: none): fresh draws of the evaluation "
                   "sets for a run (see --intervals), resamples of the rows for --codes.")
@click.option("--intervals", type=click.Choice(["draws", "bootstrap"]), default="draws", show_default=True,
              help="A run's replicates: draws (the train and test sets drawn and encoded afresh) or bootstrap "
                   "(the drawn rows resampled with replacement, which biases DCI, modularity and the MI scores).")
@click.option("--breakdown", is_flag=True,
              help="Also per-factor and per-pair values of MIG, DCI and InfoMEC (which factor is captured, "
                   "which pairs share a code dimension).")
@click.option("--udr", is_flag=True,
              help="RUN_DIR is a sweep folder: score its runs with UDR (no labels), write RUN_DIR/udr.json "
                   "for the index's 'What this sweep says' section.")
@click.option("--udr-points", type=click.IntRange(min=10), default=1000, show_default=True,
              help="With --udr: observations every run encodes.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: one line per value (with its interval); json: the whole result.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto (encoding only).")
@click.option("--out", type=click.Path(path_type=Path), help="With --codes: where to write the JSON.")
@click.option("-s", "--set", "-o", "--option", "settings", multiple=True,
              help="key=value: a setting of the evaluator of a run that is not an image VAE's, e.g. for a vsa "
                   "run -s n_items=256 -s classifier.steps=2000 (docs/vsa.md), for a cross-modal run "
                   "-s translator.epochs=500 (docs/crossmodal.md).")
def eval_command(run_dir: Path | None, codes: Path | None, metrics: str | None, preset: str | None, fast: bool,
                 bootstrap: int, intervals: str, breakdown: bool, udr: bool, udr_points: int, fmt: str, seed: int, device: str,
                 out: Path | None, settings: tuple[str, ...]) -> None:
    """Score a run or codes from --codes FILE (.npz or .csv); prints each score, and each stage (stderr).

    A run is scored by the evaluator of its task: the disentanglement metrics for the image VAEs
    (the options below), the measures of docs/vsa.md for a vsa run (-s key=value).

    Writes: RUN_DIR/eval.json (a vsa run: also RUN_DIR/swap.png), or with --codes FILE FILE.eval.json
    beside it (or --out); with --udr, RUN_DIR/udr.json.
    """
    import json

    from betavae.experiments.evaluate import evaluate_codes_file, evaluate_run

    task = _run_task(run_dir) if run_dir is not None and codes is None and not udr else "image"
    if task != "image":
        image_only = {"--preset": preset, "--fast": fast, "--bootstrap": bootstrap, "--intervals": intervals != "draws",
                      "--breakdown": breakdown, "--seed": seed, "--out": out, "--device": device != "cpu"}
        given = [name for name, value in image_only.items() if value]
        if given:
            raise BetavaeError(f"{', '.join(given)}: options of the image metrics; {run_dir} is a {task} run: "
                               "give its evaluator's settings as -s key=value")
        names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        from betavae.experiments.evaluators import evaluate_with

        result, where = evaluate_with(run_dir, task, settings, names), str(run_dir / "eval.json")
    else:
        if settings:
            raise BetavaeError("-s key=value sets the evaluator of runs that are not image VAEs; "
                               "image runs take --metrics, --preset and --seed")
        names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        if fast and preset not in (None, "fast"):
            raise BetavaeError("--fast and --preset default contradict each other; give one")
        preset = "fast" if fast else (preset or "default")
        if (run_dir is None) == (codes is None):
            raise BetavaeError("give either a RUN_DIR or --codes FILE (.npz or .csv)")
        if udr:
            from betavae.report.lessons import sweep_udr

            if run_dir is None:
                raise BetavaeError("--udr scores the runs of a sweep folder: give RUNS_DIR, not --codes")
            scores = sweep_udr(run_dir, num_points=udr_points, seed=seed, device=device)
            if fmt == "json":
                click.echo(json.dumps(scores, indent=2))
                return
            for run, value in scores["model_scores"].items():
                click.echo(f"{run:48s} {value:.4f}  (against {'its seeds' if scores['mode'][run] == 'seeds' else 'all runs'})")
            click.echo(f"wrote {run_dir / 'udr.json'}")
            return
        if codes is not None:
            result = evaluate_codes_file(codes, names, preset, seed, out, bootstrap=bootstrap, breakdown=breakdown)
            where = result["written_to"]
        else:
            result = evaluate_run(run_dir, names, preset, seed, device, bootstrap=bootstrap, breakdown=breakdown,
                                  progress=lambda line: click.echo(f"eval: {line}", err=True), intervals=intervals)
            where = str(run_dir / "eval.json")
    print_scores(result, fmt)
    if fmt != "json":
        click.echo(f"wrote {where}")


def print_scores(result: dict, fmt: str = "table") -> None:
    """An evaluation as one line per value (with its interval), or as JSON."""
    from betavae.report.scores_text import scores_text

    text = scores_text(result, fmt)
    if text:
        click.echo(text)


def _run_task(run_dir: Path) -> str:
    """The training task of a run folder (``image`` when its config cannot be read: the image
    path then reports what is wrong, as it always did)."""
    from betavae.experiments.rundir import read_run_config

    try:
        return read_run_config(run_dir).model.task
    except BetavaeError:
        return "image"


@cli.group()
def data() -> None:
    """Data sets: cache a config's data set; calibrate the dSprites renderer against the official file."""


@data.command()
@click.option("--dsprites", "path", type=click.Path(path_type=Path), required=True,
              help="The official dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz.")
@click.option("--n", type=click.IntRange(min=1), default=5000, show_default=True, help="Images compared.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--refit", is_flag=True, help="Also fit each shape's geometry and threshold to the file.")
@click.option("--refit-n", type=click.IntRange(min=1), default=64, show_default=True,
              help="Official images per shape used by the fit.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --refit: write the fitted renderer as a YAML config fragment here.")
def calibrate(path: Path, n: int, seed: int, refit: bool, refit_n: int, out: Path | None) -> None:
    """Per-shape IoU of the procedural renderer against official images; --refit fits the
    shape parameters and reports the IoU of the fitted renderer on fresh images.

    Prints: the IoUs and the fitted overrides. Writes: only with --refit --out, that YAML file.
    """
    import numpy as np
    import yaml

    from betavae.data.dsprites import RendererConfig
    from betavae.data.dsprites import calibrate as run_calibration
    from betavae.data.dsprites_file import load_dsprites_file
    from betavae.data.refit import refit as run_refit
    from betavae.io import atomic_write_text

    if out is not None and not refit:
        raise BetavaeError("--out needs --refit")
    official = load_dsprites_file(path, progress=True)
    start = RendererConfig()
    result = run_calibration(official, start, n, np.random.default_rng(seed))
    for key, value in result.items():
        click.echo(f"{key:24s} {value:.4f}")
    if not refit:
        return
    fitted = run_refit(official, start, refit_n, np.random.default_rng([seed, 1]))
    for fit in fitted.shapes:
        click.echo(f"refit.{fit.shape:18s} IoU {fit.iou_before:.4f} -> {fit.iou_after:.4f} "
                   f"(fit images, {fit.evaluations} evaluations)")
    check = run_calibration(official, fitted.config, n, np.random.default_rng([seed, 2]))
    for key in ("iou.square", "iou.ellipse", "iou.heart", "iou.mean"):
        click.echo(f"fitted.{key:17s} {check[key]:.4f}   (fresh images; before {result[key]:.4f})")
    overrides = fitted.overrides()
    click.echo("overrides: " + " ".join(f"data.renderer.{k}={v}" for k, v in overrides.items()))
    if out is not None:
        atomic_write_text(out, yaml.safe_dump({"data": {"renderer": overrides}}, sort_keys=False))
        click.echo(f"wrote {out}")


@data.command()
@click.argument("args", nargs=-1)
@click.option("--cache-dir", type=click.Path(path_type=Path),
              help="Cache folder (default: $BETAVAE_CACHE_DIR or ~/.cache/betavae).")
def prepare(args: tuple[str, ...], cache_dir: Path | None) -> None:
    """Validate and cache a config's data set now, with a progress bar:
    bvae data prepare [CONFIG.yaml | SHIPPED_NAME] [data.path=... ...].

    Writes: the data set's cache file under the cache folder (--cache-dir, $BETAVAE_CACHE_DIR or
    ~/.cache/betavae); prints its size, factors and the cache path.
    """
    from betavae.cache import set_cache_dir
    from betavae.config import load_config

    set_cache_dir(cache_dir)
    name, overrides = split_args(args)
    config = load_config(resolve_config_path(name, "data prepare") if name else None, overrides)
    source = config.data.build(progress=True)
    click.echo(f"{config.data.kind}: {len(source)} images of shape {tuple(source.observation_shape)}, "
               f"factors {dict(zip(source.factor_names, source.factor_sizes, strict=True))}")
    for key in ("skipped", "ignored"):
        if hasattr(source, key):
            click.echo(f"{key}: {getattr(source, key)} file(s)")
    pixels = getattr(getattr(source, "grid", source), "pixels", None)
    if getattr(pixels, "filename", None):
        click.echo(f"cache: {pixels.filename}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bvae``; returns the exit code (2 for user errors).

    From the command line, ``BETAVAE_ALLOCATOR=tcmalloc|jemalloc`` re-runs the command with that
    allocator preloaded (see :mod:`betavae.train.allocator`).
    """
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if from_command_line:
            from betavae.train.allocator import reexec_with_allocator

            reexec_with_allocator(sys.argv[1:])
        cli.main(args=argv, prog_name="bvae", standalone_mode=False)
    except BetavaeError as exc:
        if debug:
            raise
        click.echo(f"bvae: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("bvae: aborted", err=True)
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
