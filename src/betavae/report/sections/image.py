"""The image VAEs' report sections: posterior statistics, reconstructions, traversals, schedules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from betavae.experiments.rundir import WEIGHTS_FILE
from betavae.metrics.posterior import kl_parts
from betavae.report.configs import schedule_fields
from betavae.report.sections import SectionOptions, report_section
from betavae.viz import figures as F

if TYPE_CHECKING:
    from betavae.report.build import Builder

#: Summed KL (nats) above which a KL that is < 10 % information earns a finding on the report.
KL_NOT_INFORMATION_NATS = 0.1


@report_section("image")
def model_figures(b: Builder, options: SectionOptions) -> None:
    """Posterior statistics, reconstructions and traversals; the batch statistics per latent go to
    ``b.stats`` (the latent table)."""
    n_images, n_seeds, rng_seed, device = options.n_images, options.n_seeds, options.rng_seed, options.device
    from betavae.experiments.load import load_run
    from betavae.viz.traverse import posterior_batch, write_traversals

    if b.files.config is None:
        return
    if not b.files.has_weights:
        b.notes.append(f"{WEIGHTS_FILE} is missing (no checkpoint yet): posterior statistics, reconstructions "
                       "and traversals are left out; curves only")
        return
    b.say("loading the model")
    run = b.attempt("loading the weights", lambda: load_run(b.run_dir, device))
    if run is None:
        return
    b.say(f"encoding {n_images} images")
    batch = b.attempt("encoding a batch", lambda: posterior_batch(run, max(n_images, n_seeds, 8), rng_seed))
    if batch is None:
        return
    kl = batch.kl
    b.add("Posterior", b.attempt("posterior statistics", lambda: F.plot_posterior_stats(
        batch.mu, batch.logvar, kl, b.fig_dir / "posterior.png")), "Posterior mean and variance per latent",
        f"Over {len(batch.mu)} images drawn uniformly from the factor grid: used latents have σ²_j → 0 "
        "and means that differ between images; unused ones sit at μ ≈ 0, σ² ≈ 1 (the prior). A latent whose "
        "σ²_j shrinks or whose μ_j moves the same way for every image pays KL without carrying information "
        "(the 'information' column of the KL table).")
    k = min(8, len(batch.images))
    b.add("Posterior", b.attempt("reconstructions", lambda: F.plot_reconstructions(
        batch.images[:k], run.decode_mean(batch.mu[:k]), b.fig_dir / "reconstructions.png")),
        "Reconstructions", "Inputs (top) and decoder means at z = μ (bottom).")
    b.say("traversals")
    paths = b.attempt("traversals", lambda: write_traversals(b.run_dir, b.fig_dir, n_seeds, run=run, batch=batch))
    if paths:
        b.add("Traversals", paths.pop("gif"), "Traversal (animated)", "Each row varies one latent (sorted by "
              "mean KL, largest first) over 10 values in [−3, 3] with the others at the seed's posterior mean; "
              "columns are seed images.")
        for key, path in paths.items():
            b.add("Traversals", path, f"Traversal grid, seed image {key.removeprefix('seed')}",
                  "Columns: input, reconstruction, then z_j = −3 … 3; KL_j (nats) beside each row.")
    var = np.exp(batch.logvar)
    parts = kl_parts(batch.mu, batch.logvar)
    b.stats = {"kl": kl, "mu_mean": batch.mu.mean(0), "mu_std": batch.mu.std(0), "var": var.mean(0),
               "information": parts["information"], "n": len(batch.mu)}
    total_kl, total_info = float(parts["kl"].sum()), float(parts["information"].sum())
    if total_kl > KL_NOT_INFORMATION_NATS and total_info < 0.1 * total_kl:
        b.findings.append(
            f"The KL is not information: of {total_kl:.3g} nats of KL over {len(batch.mu)} images, "
            f"{'less than 1e-6' if total_info < 1e-6 else f'at most {total_info:.2g}'} nats tell the images apart (I(x; z_j) bound, column 'information'); the rest "
            f"is an offset of the posterior means ({parts['offset'].sum():.3g} nats) and a change of the "
            f"posterior width ({parts['width'].sum():.3g} nats) that every image shares. The decoder gets "
            "nothing to reconstruct from (betavae.metrics.posterior; docs/metrics.md)." + _dead_encoder_layers(run, batch)
            + _sigmoid_squared_error(run))


def _sigmoid_squared_error(run: Any) -> str:
    """A sentence on the squared error through a sigmoid when the run's decoder has one ('' if not)."""
    likelihood = run.config.model.likelihood
    if likelihood.kind != "gaussian" or getattr(likelihood, "link", "sigmoid") != "sigmoid":
        return ""
    return (" The decoder's squared error is taken through a sigmoid (model.likelihood.link: sigmoid), which "
            "weights each pixel's gradient by p(1 − p), nearly 0 where the output is dark: on dSprites that kept "
            "the capacity objective at the mean image (7 of 7 runs at lr 5e-4); with link: identity it trained on "
            "13 of 18 seeds at lr 5e-4 and 12 of 12 at lr 1e-4 (docs/studies/table1.md).")


def _dead_encoder_layers(run: Any, batch: Any) -> str:
    """A sentence naming the encoder's dead ReLU layers on the batch ('' if none)."""
    import torch

    from betavae.models.diagnostics import dead_layers, relu_layers

    x = torch.from_numpy(np.ascontiguousarray(batch.images)).to(run.device)
    dead = dead_layers(relu_layers(run.model, lambda: run.model.encode(x)))
    if not dead:
        return ""
    named = ", ".join(f"{layer.name} ({layer.units} units)" for layer in dead)
    return (f" The encoder has dead ReLU layers: {named}, zero for all {len(batch.images)} images, so no "
            "gradient reaches the layers before them and the encoder cannot learn to use its input from "
            "here on (betavae.models.diagnostics).")


@report_section("image")
def schedule_figures(b: Builder, options: SectionOptions) -> None:
    """Each schedule of the objective over the run's steps or epochs."""
    from betavae.viz.schedule import plot_schedule

    config = b.files.config
    if config is None:
        return
    for name, sched in schedule_fields(config).items():
        counter = total_of(b, config, sched.unit)
        if counter is None:
            continue
        path = b.attempt(f"schedule {name}", lambda s=sched, c=counter, n=name: plot_schedule(
            s, c, b.fig_dir / f"schedule_{n}.png", title=f"objective.{n}: {s.kind} (over the run's {c} {s.unit}s)"))
        b.add("Schedules", path, f"objective.{name}", f"The {name} schedule over the run's {counter} "
              f"{sched.unit}s, as configured.")


def total_of(b: Builder, config: Any, unit: str) -> int | None:
    """The run's length in ``unit`` (step or epoch), whichever of train.steps/epochs it set."""
    tc = config.train
    if (unit == "epoch") == (tc.epochs is not None):
        return tc.epochs if tc.epochs is not None else tc.steps
    spe = tc.steps_per_epoch or b.attempt(
        "counting epochs", lambda: max(1, len(config.data.build()) // tc.batch_size))
    if spe is None:
        return None
    return math.ceil(tc.steps / spe) if unit == "epoch" else tc.epochs * spe
