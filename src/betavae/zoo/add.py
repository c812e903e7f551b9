"""``bvae zoo add``: turn a finished run folder into a zoo model with a card.

The model folder is built beside the zoo (in a hidden staging folder), scored on the weights as
stored (float16, loaded back to float32 by :func:`betavae.load_run`), and moved into place before
the manifest names it; the manifest is rewritten atomically, so an interrupted ``add`` leaves the
zoo as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from betavae.errors import BetavaeError
from betavae.experiments.evaluate import EVAL_FILE, evaluate_run
from betavae.experiments.load import load_run
from betavae.experiments.rundir import (
    CONFIG_FILE,
    META_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    read_meta,
    read_metrics,
    read_run_config,
)
from betavae.experiments.summary import run_status
from betavae.io import atomic_write, atomic_write_json, atomic_write_text
from betavae.train.checkpoint import load_weights
from betavae.viz.figures import plot_curves
from betavae.viz.traverse import posterior_batch, traverse, write_gif
from betavae.zoo import card as C
from betavae.zoo.plateau import plateau
from betavae.zoo.retrain import retrain_command
from betavae.zoo.store import (
    CARD_FILE,
    check_name,
    file_records,
    read_manifest,
    write_manifest,
    zoo_root,
)

GIF_FILE = "traverse.gif"
CURVES_FILE = "curves.png"
FLOAT16_MAX = 65504.0
#: largest traversal GIF a card keeps (the whole zoo stays within about 15 MB)
MAX_GIF_BYTES = 400_000


def store_weights(tensors: dict[str, torch.Tensor], out: Path, metadata: dict[str, str]) -> dict[str, Any]:
    """Write the floating tensors as float16 (bfloat16 when a value exceeds float16's range), the
    others as they are; returns {"dtype", "parameters", "max_abs_change"}."""
    floats = [t for t in tensors.values() if t.is_floating_point()]
    largest = max((float(t.abs().max()) for t in floats if t.numel()), default=0.0)
    dtype = torch.float16 if largest < FLOAT16_MAX else torch.bfloat16
    stored = {k: (t.to(dtype) if t.is_floating_point() else t).contiguous() for k, t in tensors.items()}
    change = max((float((stored[k].float() - t.float()).abs().max()) for k, t in tensors.items()
                  if t.is_floating_point() and t.numel()), default=0.0)
    atomic_write(out, lambda tmp: save_file(stored, tmp, metadata={**metadata, "stored_dtype": str(dtype)}))
    return {"dtype": str(dtype).removeprefix("torch."), "parameters": int(sum(t.numel() for t in floats)),
            "max_abs_change": change}


def write_small_gif(run: Any, out: Path, max_bytes: int = MAX_GIF_BYTES) -> Path:
    """The traversal GIF of 3 seed images (``bvae traverse``'s, 512 images seeded 0 for the KL
    order), at 100 dpi or lower until it is at most ``max_bytes``."""
    tr = traverse(run.decode_mean, posterior_batch(run, 512, 0), n_seeds=3)
    dpi = 100
    while True:
        write_gif(tr, out, dpi=dpi)
        if out.stat().st_size <= max_bytes or dpi <= 40:
            return out
        dpi = int(dpi * 0.85)


def _write_run_files(run_dir: Path, folder: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> dict:
    """config.yaml (as the run has it), meta.json, thinned metrics.jsonl and float16 weights."""
    shutil.copyfile(run_dir / CONFIG_FILE, folder / CONFIG_FILE)
    atomic_write_json(folder / META_FILE, meta)
    kept = C.thin_rows(rows)
    atomic_write_text(folder / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in kept))
    tensors, _, weights_meta = load_weights(run_dir / WEIGHTS_FILE)  # the objective's tensors stay behind
    metadata = {"config": json.dumps(weights_meta.get("config", {})), "step": str(weights_meta.get("step", 0)),
                "format": "betavae-1"}
    stored = store_weights(tensors, folder / WEIGHTS_FILE, metadata)
    return {**stored, "step": int(weights_meta.get("step", 0)), "rows_kept": len(kept), "rows_logged": len(rows)}


def _check_run(run_dir: Path) -> tuple[Any, dict[str, Any]]:
    config = read_run_config(run_dir)
    if config.model.task != "image":
        raise BetavaeError(f"{run_dir} is a {config.model.task} run; the zoo takes image VAE runs so far")
    meta = read_meta(run_dir)
    status = run_status(run_dir, meta) if meta else "unknown (no meta.json)"
    if status != "finished":
        raise BetavaeError(f"{run_dir} is {status}, not finished: finish it (`bvae train --resume {run_dir}`) "
                           "or train it to the steps that fit")
    if not (run_dir / WEIGHTS_FILE).is_file():
        raise BetavaeError(f"{run_dir} has no {WEIGHTS_FILE}")
    return config, meta


def add_model(run_dir: str | Path, name: str, note: str | None = None, root: str | Path | None = None,
              preset: str = "fast", bootstrap: int = 50, seed: int = 0, sizes: dict[str, int] | None = None,
              replace: bool = False, progress: Callable[[str], None] | None = None) -> Path:
    """Add the finished run ``run_dir`` to the zoo at ``root`` as ``name``; returns its folder.

    Scores on the stored weights: :func:`betavae.zoo.card.check_scores` (the values the
    honest-card test recomputes) and every metric of ``bvae eval`` at ``preset`` with ``seed``,
    ``sizes`` and ``bootstrap`` replicates (:func:`betavae.experiments.evaluate.evaluate_run`).
    """
    say = progress or (lambda message: None)
    run_dir, root = Path(run_dir), zoo_root(root)
    check_name(name)
    config, meta = _check_run(run_dir)
    models = read_manifest(root)["models"]
    if name in models and not replace:
        raise BetavaeError(f"the zoo at {root} already has {name!r}; give --replace to rebuild it")
    command, derived = retrain_command(config, meta)
    staging = root / f".adding-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    folder = staging / name
    folder.mkdir(parents=True)
    try:
        rows = read_metrics(run_dir)
        say("writing float16 weights, config, meta and metrics")
        weights = _write_run_files(run_dir, folder, rows, meta)
        run = load_run(folder)  # the stored weights, back in float32
        say(f"check scores: reconstruction over {C.CHECK_IMAGES} images, MIG ({C.CHECK_PRESET} preset)")
        check = C.check_scores(run)
        say(f"evaluating every metric ({preset} preset, intervals from {bootstrap} independent draws)")
        evaluation = evaluate_run(folder, None, preset, seed, "cpu", sizes, progress=say, bootstrap=bootstrap)
        say("traversal GIF and curves")
        write_small_gif(run, folder / GIF_FILE)
        plot_curves(rows, folder / CURVES_FILE, config.objective.kind, scores=True)
        last = rows[-1] if rows else {}
        card = {
            "format": 1, "name": name, "note": note or "",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "run_id": config.run_id(), "config_hash": config.config_hash(), "objective": config.objective.kind,
            "settings": C.settings(config), "steps": weights["step"], "wall_seconds": C.wall_seconds(meta),
            "machine": C.machine(meta), "git": meta.get("git", {}), "weights": weights,
            "final_row": {k: last.get(k) for k in ("step", "recon", "kl", "loss") if k in last},
            "check": check, "latents": {"kl_per_latent": check["kl_per_latent"], "active": check["active"],
                                        "threshold_nats": C.ACTIVE_NATS, "images": check["images"]},
            "evaluation": {k: evaluation[k] for k in ("values", "intervals", "bootstrap", "settings", "seed",
                                                      "wall_seconds") if k in evaluation},
            "plateau": plateau(rows), "retrain": {"command": command, "derived_from": derived},
            "files": {"gif": GIF_FILE, "curves": CURVES_FILE, "eval": EVAL_FILE},
            "config_yaml": config.to_yaml(),
        }
        atomic_write_json(folder / CARD_FILE, card)
        C.write_card_pages(folder, card)
        _install(root, name, folder, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / name


def _install(root: Path, name: str, folder: Path, staging: Path) -> None:
    """Move ``folder`` to ``root/name`` (the old one aside first) and name it in the manifest."""
    target, old = root / name, staging / f"{name}.old"
    if target.exists():
        os.replace(target, old)
    os.replace(folder, target)
    manifest = read_manifest(root)
    manifest["models"][name] = {"files": file_records(target)}
    write_manifest(manifest, root)
