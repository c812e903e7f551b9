"""Evaluate a run (or arrays a user brings) with the disentanglement metrics; write ``eval.json``.

This is the glue between runs and the pure metric cores of :mod:`betavae.metrics`: load the
weights, draw factor vectors uniformly over the ground-truth grid, render and encode them
(posterior means), call the metric functions, and record values, settings, seed, versions and
time per metric. Train and test sets are independent draws, as in disentanglement_lib.
"""

from __future__ import annotations

import datetime as dt
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from betavae.errors import BetavaeError
from betavae.io import atomic_write_json
from betavae.metrics import ARRAY_METRICS, beta_vae_score, evaluate, factor_vae_score, sample_codes

EVAL_FILE = "eval.json"
SAMPLED_METRICS = ("beta_vae", "factor_vae")
ALL_METRICS = (*ARRAY_METRICS, *SAMPLED_METRICS)

#: Points drawn per preset. ``default`` is disentanglement_lib's: 10,000 train / 5,000 test
#: for the array metrics; 10,000 / 5,000 points of L = 64 pairs (BetaVAE, 1.9 M images to
#: encode) or vectors (FactorVAE, plus 10,000 for the variances) for the sampled scores.
#: ``fast`` (for use during training) uses 5,000 / 2,500 points, and 500 / 250 points of
#: L = 16 with 5,000 variance points for the sampled scores (about 70k images in all).
SIZES = {
    "default": {"num_train": 10_000, "num_test": 5_000, "sampled_train": 10_000, "sampled_eval": 5_000,
                "sampled_batch": 64, "num_variance_estimate": 10_000},
    "fast": {"num_train": 5_000, "num_test": 2_500, "sampled_train": 500, "sampled_eval": 250,
             "sampled_batch": 16, "num_variance_estimate": 5_000},
}


def check_metric_names(metrics: Sequence[str] | None) -> list[str]:
    names = list(ALL_METRICS if metrics is None else metrics)
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown or not names:
        raise BetavaeError(f"unknown metric(s) {unknown}; choose from: {', '.join(ALL_METRICS)}")
    return names


def evaluate_encoder(
    encode: Callable[[np.ndarray], np.ndarray],
    source: Any,
    metrics: Sequence[str] | None = None,
    preset: str = "default",
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score an encoder (observations -> posterior means (n, D)) on a ground-truth source.

    ``sizes`` overrides entries of :data:`SIZES` for the preset (e.g. ``{"num_train": 2000}``).
    ``progress`` is told when each stage starts and ends (a line for the command line).
    """
    say = progress or (lambda message: None)
    names = check_metric_names(metrics)
    if not getattr(source, "ground_truth", True):
        raise BetavaeError("the data source has no ground-truth factors (data.kind images), so the "
                           "disentanglement metrics cannot score it; evaluate on a ground-truth data set")
    if preset not in SIZES:
        raise BetavaeError(f"unknown metrics preset {preset!r}; known: {', '.join(SIZES)}")
    unknown = sorted(set(sizes or {}) - set(SIZES[preset]))
    if unknown:
        raise BetavaeError(f"unknown evaluation size(s) {unknown}; known: {', '.join(SIZES[preset])}")
    size = {**SIZES[preset], **(sizes or {})}
    result: dict[str, Any] = {"values": {}, "seconds": {}, "settings": {"preset": preset, **size}}
    array_names = [m for m in names if m in ARRAY_METRICS]
    if array_names:
        t0 = time.perf_counter()
        say(f"encoding {size['num_train']} + {size['num_test']} images")
        rng = np.random.default_rng(seed)
        codes_tr, factors_tr = sample_codes(encode, source, size["num_train"], seed=rng)
        codes_te, factors_te = sample_codes(encode, source, size["num_test"], seed=rng)
        result["seconds"]["sampling"] = time.perf_counter() - t0
        say(f"encoded in {result['seconds']['sampling']:.1f} s; scoring {', '.join(array_names)}")
        scored = evaluate(codes_tr, factors_tr, codes_te, factors_te, metrics=array_names, preset=preset, seed=seed)
        result["values"].update(scored["values"])
        result["seconds"].update(scored["seconds"])
        result["settings"]["array"] = scored["settings"]
        result["versions"] = scored["versions"]
        result["warnings"] = scored.get("warnings", [])
        say("scored " + ", ".join(f"{m} ({scored['seconds'].get(m, 0):.1f} s)" for m in array_names)
            + f" in {scored['wall_seconds']:.1f} s")
    common = {"seed": seed, "num_train": size["sampled_train"], "num_eval": size["sampled_eval"],
              "batch_size": size["sampled_batch"]}
    if "beta_vae" in names:
        t0 = time.perf_counter()
        say("scoring beta_vae")
        result["values"].update(beta_vae_score(encode, source, **common))
        result["seconds"]["beta_vae"] = time.perf_counter() - t0
        say(f"scored beta_vae in {result['seconds']['beta_vae']:.1f} s")
    if "factor_vae" in names:
        t0 = time.perf_counter()
        say("scoring factor_vae")
        result["values"].update(
            factor_vae_score(encode, source, num_variance_estimate=size["num_variance_estimate"], **common)
        )
        result["seconds"]["factor_vae"] = time.perf_counter() - t0
        say(f"scored factor_vae in {result['seconds']['factor_vae']:.1f} s")
    result["seed"] = seed
    return result


def evaluate_model(model: Any, source: Any, train_config: Any, device: Any) -> dict[str, float]:
    """Scores of a model being trained (``train.eval_metrics`` at ``train.eval_preset``), keys
    ``eval.<metric>``, for the rows of ``metrics.jsonl``.

    Uses its own seeded generators, so training randomness is untouched; the model is put in eval
    mode for the encoding and back in train mode afterwards.
    """
    import torch

    model.eval()

    @torch.no_grad()
    def encode(obs: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(obs)).to(device, torch.float32)
        return model.encode(x / source.pixel_max)[0].float().cpu().numpy()

    try:
        result = evaluate_encoder(encode, source, train_config.eval_metrics, train_config.eval_preset, seed=0)
    finally:
        model.train()
    return {f"eval.{k}": float(v) for k, v in result["values"].items()}


def evaluate_run(
    run_dir: str | Path,
    metrics: Sequence[str] | None = None,
    preset: str = "default",
    seed: int = 0,
    device: str = "cpu",
    sizes: dict[str, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Encode the run's data set with its trained model, score it, write ``eval.json``."""
    from betavae.experiments.load import load_run

    run = load_run(run_dir, device=device)
    t0 = time.perf_counter()
    result = evaluate_encoder(run.encode_mean, run.source, metrics, preset, seed, sizes, progress)
    result.update(
        run=run.run_dir.name,
        step=run.step,
        time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        wall_seconds=time.perf_counter() - t0,
    )
    atomic_write_json(Path(run_dir) / EVAL_FILE, result)
    return result


def load_codes_file(path: str | Path) -> dict[str, np.ndarray]:
    """Read ``codes`` (N, D) and ``factors`` (N, K) (+ optional ``codes_test``/``factors_test``)
    from a user's ``.npz`` without pickle; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise BetavaeError(f"codes file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BetavaeError(f"{path} is not a readable .npz of plain arrays ({exc})") from None
    for key in ("codes", "factors"):
        if key not in arrays:
            raise BetavaeError(f"{path} has no array {key!r} (it has: {', '.join(arrays) or 'nothing'})")
    if ("codes_test" in arrays) != ("factors_test" in arrays):
        raise BetavaeError(f"{path}: give both codes_test and factors_test, or neither")
    return arrays


def evaluate_codes_file(
    path: str | Path, metrics: Sequence[str] | None = None, preset: str = "default", seed: int = 0,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Score arrays a user brings; writes ``<file stem>.eval.json`` beside the file (or ``out``)."""
    names = check_metric_names(metrics)
    sampled = [m for m in names if m in SAMPLED_METRICS]
    if sampled and metrics is not None:
        raise BetavaeError(f"{', '.join(sampled)} need a data source and an encoder, not fixed arrays")
    arrays = load_codes_file(path)
    result = evaluate(
        arrays["codes"], arrays["factors"], arrays.get("codes_test"), arrays.get("factors_test"),
        metrics=[m for m in names if m in ARRAY_METRICS], preset=preset, seed=seed,
    )
    result["source"] = str(path)
    out = Path(out) if out is not None else Path(path).with_suffix(".eval.json")
    atomic_write_json(out, result)
    result["written_to"] = str(out)
    return result
