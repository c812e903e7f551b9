"""``bvae multimodal``: simulate data, run a study, (re)write a study's report."""

from __future__ import annotations

from pathlib import Path

import click

from betavae.errors import BetavaeError


@click.group()
def multimodal() -> None:
    """Multimodal sensorimotor VAEs (Zambelli et al. 2020) and integration measures (Langer et al. 2024)."""


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
    from betavae.multimodal.files import as_train56, save_sensorimotor
    from betavae.multimodal.simulator import SimulatorConfig

    data = run_simulator(SimulatorConfig(n_train=n_train, n_test=n_test), seed)
    save_sensorimotor(out, as_train56(data), data.test)
    x = data.train_clean
    click.echo(f"touch rate {(x[:, 16] > 0).mean():.3f}, sound rate {(x[:, 18] > 0).mean():.3f}")
    click.echo(f"wrote {out} ({len(data.train_input)} training rows, {len(data.test)} test rows)")


@multimodal.command()
@click.option("--schedules", default="const1,const0,dyn_plateau0,dyn_plateau1", show_default=True,
              help="Comma-separated study schedules, or inline mappings such as '{kind: linear, length: 500}'.")
@click.option("--seeds", "n_seeds", type=click.IntRange(min=1), default=20, show_default=True,
              help="Models per schedule (seeds 0..N-1), trained together as one ensemble.")
@click.option("--epochs", type=click.IntRange(min=1), default=80_000, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Study folder.")
@click.option("--eval-every", type=click.IntRange(min=1), default=100, show_default=True,
              help="Measure every N epochs.")
@click.option("--time-scale", type=float, help="Multiply the schedule breakpoints (default: epochs/80000).")
@click.option("--min-period", type=click.IntRange(min=1), default=8, show_default=True,
              help="Floor of the scaled dynamic-cycle period in epochs (short runs).")
@click.option("--precision", type=click.Choice(["float64", "float32", "bf16"]), default="float64", show_default=True)
@click.option("--lr", type=float, default=5e-5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--n-points", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Evaluation points of the measures.")
@click.option("--pe-input", default="full", show_default=True,
              help="Prediction-error input: full, a group (vision_only, prediction, control_loop) or 'vision:both,...'.")
@click.option("--sme-keep", type=click.Choice(["older", "newer", "both"]), default="older", show_default=True,
              help="Which step of a modality SME keeps (reconstructed choice, spec §6).")
@click.option("--lop-mute", type=click.Choice(["both", "older", "newer"]), default="both", show_default=True)
@click.option("--kl-direction", type=click.Choice(["full_to_muted", "muted_to_full"]), default="full_to_muted",
              show_default=True)
@click.option("--latent-mode", type=click.Choice(["mean", "sample"]), default="mean", show_default=True,
              help="Decode from z = mu (reference) or average the KLs over sampled z.")
@click.option("--train-file", type=click.Path(path_type=Path), help="The original training .mat (with --test-file).")
@click.option("--test-file", type=click.Path(path_type=Path), help="The original test .mat.")
@click.option("--sim-train", type=click.IntRange(min=1), default=1845, show_default=True,
              help="Simulated clean training rows.")
@click.option("--sim-test", type=click.IntRange(min=1), default=1487, show_default=True, help="Simulated test rows.")
@click.option("--data-seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads; the ensembles are small, and on a shared machine 2 threads measured "
                   "far slower than 1 (docs/multimodal.md).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal).")
def study(schedules: str, n_seeds: int, epochs: int, out: Path, eval_every: int, time_scale: float | None,
          min_period: int, precision: str, lr: float, batch_size: int, n_points: int, pe_input: str, sme_keep: str, lop_mute: str,
          kl_direction: str, latent_mode: str, train_file: Path | None,
          test_file: Path | None, sim_train: int, sim_test: int, data_seed: int, threads: int,
          device: str, progress: bool | None) -> None:
    """Train N models per KL-weight schedule and write every measure, the figures and report.html.

    Writes: into --out: measures.json, measures.csv, protocols.json, study.json, weights/,
    figures/ and report.html.
    """
    from pydantic import ValidationError
    from tqdm import tqdm

    from betavae.multimodal.report import write_report
    from betavae.multimodal.schedules import resolve_schedule, split_schedules
    from betavae.multimodal.study import StudyConfig, run_study

    names = split_schedules(schedules)
    for name in names:  # fail on a bad name before any training
        resolve_schedule(name, epochs, time_scale, min_period)
    try:
        cfg = StudyConfig.model_validate({
            "schedules": names, "seeds": list(range(n_seeds)), "time_scale": time_scale, "min_period": min_period,
            "train": {"epochs": epochs, "eval_every": eval_every, "precision": precision, "lr": lr,
                      "batch_size": batch_size, "threads": threads, "device": device},
            "measures": {"n_points": n_points, "pe_input": pe_input, "sme_keep": sme_keep, "lop_mute": lop_mute,
                         "kl_direction": kl_direction, "latent_mode": latent_mode},
            "data": {"train_path": train_file, "test_path": test_file, "seed": data_seed,
                     "simulator": {"n_train": sim_train, "n_test": sim_test}},
        })
    except ValidationError as exc:
        raise BetavaeError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    bar = tqdm(total=epochs * len(names), disable=None if progress is None else not progress, unit="epoch")
    try:
        meta = run_study(cfg, out, on_epoch=lambda label, e: (bar.set_description(label), bar.update()))
    finally:
        bar.close()
    for label, sec in meta["seconds"].items():
        click.echo(f"{label:16s} {n_seeds} seeds x {epochs} epochs in {sec:.1f} s")
    click.echo(f"wrote {write_report(out)}")


@multimodal.command("report")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def report_command(folder: Path) -> None:
    """(Re)draw the figures and report.html of a finished study folder.

    Writes: FOLDER/figures/ and FOLDER/report.html.
    """
    from betavae.multimodal.report import write_report

    click.echo(f"wrote {write_report(folder)}")
