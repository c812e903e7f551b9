"""A zoo model's card: the scores measured on the stored weights, the facts of its training run,
and the pages (``card.md``, ``card.html``) rendered by the report's Jinja2 machinery.

The *check* values (:func:`check_scores`) are what the honest-card test recomputes from the
shipped weights: the reconstruction statistics of :func:`betavae.experiments.reconstruction.
reconstruction_stats` on :data:`CHECK_IMAGES` images drawn with seed :data:`CHECK_SEED`, and MIG at
the ``fast`` preset with that seed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from betavae.experiments.evaluate import evaluate_encoder
from betavae.experiments.load import ImageRun
from betavae.experiments.reconstruction import reconstruction_stats
from betavae.experiments.summary import ACTIVE_NATS
from betavae.report.configs import hyper_params
from betavae.report.render import write_pages
from betavae.report.scores_text import intervals_text

CHECK_IMAGES = 2000
CHECK_SEED = 0
CHECK_PRESET = "fast"
#: metrics.jsonl rows a zoo model keeps (every eval row and the last row always; the rest thinned evenly)
MAX_ROWS = 400
#: the scores ``bvae zoo list`` shows, with their card labels
HEADLINE = (("mig", "MIG"), ("dci.disentanglement", "DCI disentanglement"),
            ("factor_vae.eval_accuracy", "FactorVAE score"))


def check_scores(run: ImageRun) -> dict[str, Any]:
    """Reconstruction statistics and fast-preset MIG of ``run`` on the fixed seeded draws."""
    recon = reconstruction_stats(run, n=CHECK_IMAGES, seed=CHECK_SEED)
    mig = evaluate_encoder(run.encode_mean, run.source, ["mig"], CHECK_PRESET, seed=CHECK_SEED)["values"]["mig"]
    return {"images": CHECK_IMAGES, "seed": CHECK_SEED, "preset": CHECK_PRESET, "mig": float(mig),
            "recon_sse": recon["mse_sum"], "recon_nll": recon["nll"], "kl": recon["kl"],
            "kl_per_latent": recon["kl_per_latent"], "active": recon["active"],
            "information_per_latent": recon["information_per_latent"], "informative": recon["informative"]}


def _time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


def wall_seconds(meta: dict[str, Any]) -> float | None:
    """Training time: the sum over the run's sessions of end − start (else end_time − start_time)."""
    spans = [(_time(s.get("start")), _time(s.get("end"))) for s in meta.get("sessions") or []]
    if not spans:
        spans = [(_time(meta.get("start_time")), _time(meta.get("end_time")))]
    total = [(end - start).total_seconds() for start, end in spans if start and end]
    return float(sum(total)) if total else None


def machine(meta: dict[str, Any]) -> dict[str, Any]:
    """Host, platform, device, threads, speed level, versions and ensemble size (1: trained alone)
    of the run's (last) session."""
    session = (meta.get("sessions") or [{}])[-1]
    return {"host": meta.get("host"), "platform": meta.get("platform"),
            "ensemble_size": int(session.get("ensemble_size") or 1),
            "device": session.get("device", meta.get("device")), "threads": session.get("threads"),
            "speed": (session.get("speed") or meta.get("speed") or {}).get("level"),
            "versions": meta.get("versions", {}), "sessions": len(meta.get("sessions") or [])}


def thin_rows(rows: Sequence[dict[str, Any]], max_rows: int = MAX_ROWS) -> list[dict[str, Any]]:
    """At most about ``max_rows`` rows: every row with an ``eval.*`` value and the last row, and
    the others evenly spaced (the curves look the same; the file stays small)."""
    rows = list(rows)
    if len(rows) <= max_rows:
        return rows
    keep = set(np.linspace(0, len(rows) - 1, max_rows).round().astype(int).tolist())
    keep |= {i for i, r in enumerate(rows) if any(k.startswith("eval.") for k in r)}
    return [r for i, r in enumerate(rows) if i in keep]


def settings(config: Any) -> dict[str, Any]:
    """The key settings ``bvae zoo list`` shows: objective weights, latents, model and data kinds."""
    return {**hyper_params(config), "latent_dim": getattr(config.model, "latent_dim", None),
            "model": config.model.kind, "data": config.data.kind}


def metric_rows(evaluation: dict[str, Any]) -> list[tuple[str, float, list[float] | None]]:
    """(name, value, interval or None) of every value of an evaluation, sorted by name."""
    intervals = evaluation.get("intervals", {})
    return [(k, v, intervals.get(k)) for k, v in sorted(evaluation.get("values", {}).items())]


def write_card_pages(folder: Path, card: dict[str, Any], task_sections: dict[str, Any]) -> Path:
    """``card.md`` and ``card.html`` of ``card`` in ``folder`` (templates ``zoo_card.*.j2``);
    ``task_sections``: what the card's task adds to the pages (``ZooTask.page(card)``)."""
    record = card["evaluation"].get("bootstrap")
    context = {"card": card, "metrics": metric_rows(card["evaluation"]), "active_threshold": ACTIVE_NATS,
               "intervals": intervals_text(record) if record else None, **task_sections}
    return write_pages(folder / "card.html", folder / "card.md", "zoo_card", context)
