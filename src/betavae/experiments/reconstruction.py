"""Reconstruction and rate of a trained run: the columns of the β-VAE report's Table 1.

The report (seed 002, Table 1) gives a "reconstruction loss (MSE)" per model; we read it as the
summed squared error per image between the image and the mean reconstruction E[x|z], z = μ(x),
on a fixed seeded sample of the factor grid (the training distribution: the procedural dSprites
has no held-out split, and these are not the training batches). Alongside it:
the NLL under the run's own likelihood, the KL to the prior per latent, the number of active
latents (KL_j > ``ACTIVE_NATS``, the report module's threshold), and the part of each KL_j that
can be information about the image (the bound I⁺_j of :func:`betavae.metrics.posterior.kl_parts`)
with the number of informative latents (I⁺_j > ``ACTIVE_NATS``): a KL_j above the threshold can
be an offset or a width every image shares (docs/metrics.md, *Posterior diagnostics*).
"""

from __future__ import annotations

import numpy as np
import torch

from betavae.experiments.load import ImageRun
from betavae.experiments.summary import ACTIVE_NATS
from betavae.metrics.posterior import kl_parts
from betavae.objectives.terms import kl_per_latent


@torch.no_grad()
def reconstruction_stats(run: ImageRun, n: int = 10_000, seed: int = 0, batch_size: int = 500) -> dict:
    """Mean over ``n`` grid images (seeded) of per-image SSE, NLL and per-latent KL.

    Returns {"mse_sum": float, "mse_pixel": float, "nll": float, "kl": float,
    "kl_per_latent": list[float] (D), "active": int, "information_per_latent": list[float] (D),
    "informative": int, "n": int}.
    """
    rng = np.random.default_rng(seed)
    source, model, likelihood = run.source, run.model, run.config.model.likelihood
    observations = source.observations(source.sample_factors(n, rng))
    sse, nll, kl, means, logvars = [], [], [], [], []
    for start in range(0, n, batch_size):
        x = torch.from_numpy(np.ascontiguousarray(observations[start : start + batch_size]))
        x = x.to(run.device, torch.float32) / source.pixel_max
        mu, logvar = model.encode(x)
        logits = model.decode(mu).float()
        sse.append((likelihood.expected(logits) - x).pow(2).flatten(1).sum(1).cpu())
        nll.append(likelihood.nll(logits, x).cpu())
        kl.append(kl_per_latent(mu.float(), logvar.float()).cpu())
        means.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    sse_all, kl_all = torch.cat(sse), torch.cat(kl)
    per_latent = kl_all.mean(0).tolist()
    pixels = int(np.prod(source.observation_shape))
    information = kl_parts(torch.cat(means).numpy(), torch.cat(logvars).numpy())["information"].tolist()
    return {
        "mse_sum": float(sse_all.mean()),
        "mse_pixel": float(sse_all.mean()) / pixels,
        "nll": float(torch.cat(nll).mean()),
        "kl": float(kl_all.sum(1).mean()),
        "kl_per_latent": per_latent,
        "active": sum(k > ACTIVE_NATS for k in per_latent),
        "information_per_latent": information,
        "informative": sum(i > ACTIVE_NATS for i in information),
        "n": n,
    }
