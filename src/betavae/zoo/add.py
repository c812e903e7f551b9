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
from betavae.zoo import card as C
from betavae.zoo.plateau import plateau
from betavae.zoo.retrain import retrain_command
from betavae.zoo.store import (
    CARD_FILE,
    check_name,
    file_records,
    read_manifest,
    verified_dir,
    write_manifest,
    zoo_root,
)
from betavae.zoo.tasks import Request, ZooTask, card_task, zoo_task

FLOAT16_MAX = 65504.0


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


def _check_run(run_dir: Path) -> tuple[Any, dict[str, Any], ZooTask]:
    config = read_run_config(run_dir)
    try:
        task = zoo_task(config.model.task)
    except BetavaeError as exc:
        raise BetavaeError(f"{run_dir} is a {config.model.task} run: {exc}") from None
    meta = read_meta(run_dir)
    status = run_status(run_dir, meta) if meta else "unknown (no meta.json)"
    if status != "finished":
        raise BetavaeError(f"{run_dir} is {status}, not finished: finish it (`bvae train --resume {run_dir}`) "
                           "or train it to the steps that fit")
    if not (run_dir / WEIGHTS_FILE).is_file():
        raise BetavaeError(f"{run_dir} has no {WEIGHTS_FILE}")
    return config, meta, task


def add_model(run_dir: str | Path, name: str, note: str | None = None, root: str | Path | None = None,
              preset: str = "fast", bootstrap: int = 50, seed: int = 0, sizes: dict[str, int] | None = None,
              replace: bool = False, progress: Callable[[str], None] | None = None,
              options: dict[str, Any] | None = None) -> Path:
    """Add the finished run ``run_dir`` to the zoo at ``root`` as ``name``; returns its folder.

    Scores on the stored weights: the check values of the run's task (:mod:`betavae.zoo.tasks`;
    for an image VAE :func:`betavae.zoo.card.check_scores`), which the honest-card test
    recomputes, and the task's full evaluation: for an image VAE every metric of ``bvae eval``
    at ``preset`` with ``seed``, ``sizes`` and ``bootstrap`` replicates
    (:func:`betavae.experiments.evaluate.evaluate_run`); for the other systems their evaluator
    with ``options`` (what ``bvae eval RUN -s key=value`` takes).
    """
    say = progress or (lambda message: None)
    run_dir, root = Path(run_dir), zoo_root(root)
    check_name(name)
    config, meta, task = _check_run(run_dir)
    models = read_manifest(root)["models"]
    if name in models and not replace:
        raise BetavaeError(f"the zoo at {root} already has {name!r}; give --replace to rebuild it")
    command, derived = retrain_command(config, meta)
    request = Request(preset, seed, sizes, bootstrap, options)
    staging = root / f".adding-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    folder = staging / name
    folder.mkdir(parents=True)
    try:
        rows = read_metrics(run_dir)
        say("writing float16 weights, config, meta and metrics")
        weights = _write_run_files(run_dir, folder, rows, meta)
        run = load_run(folder)  # the stored weights, back in float32
        say(task.check_message)
        check = task.check(run)
        say(task.evaluate_message(request))
        evaluation = task.evaluate(folder, request, say)
        say("figures and curves")
        figures = task.figures(run, folder)
        task.curves(folder, rows, config)
        last = rows[-1] if rows else {}
        card = {
            "format": 1, "name": name, "note": note or "",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "run_id": config.run_id(), "config_hash": config.config_hash(), "objective": config.objective.kind,
            "settings": task.settings(config), "steps": weights["step"], "wall_seconds": C.wall_seconds(meta),
            "machine": C.machine(meta), "git": meta.get("git", {}), "weights": weights,
            "final_row": {k: last.get(k) for k in task.final_terms if k in last},
            "check": check,
            "evaluation": {k: evaluation[k] for k in ("values", "intervals", "bootstrap", "settings", "seed",
                                                      "wall_seconds") if k in evaluation},
            "plateau": plateau(rows, task.recon_key, task.rising_scores),
            "retrain": {"command": command, "derived_from": derived},
            "config_yaml": config.to_yaml(),
            **task.card_fields(check, figures),
        }
        atomic_write_json(folder / CARD_FILE, card)
        C.write_card_pages(folder, card, task.page(card))
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


def _changes(old: Any, new: Any, key: str = "") -> list[str]:
    """``key: old → new`` of each number or count in ``old`` that ``new`` gives differently
    (relative 1e-5), and ``key: added`` for each key only ``new`` has."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = [f"{key}{k}: added" for k in new if k not in old]
        return lines + [line for k in old if k in new for line in _changes(old[k], new[k], f"{key}{k}.")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True)) for line in _changes(a, b, f"{key}{i}.")]
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return [] if abs(new - old) <= 1e-5 * max(abs(old), 1e-12) else [f"{key.rstrip('.')}: {old} → {new}"]
    return [] if old == new else [f"{key.rstrip('.')}: changed"]


def recheck_model(name: str, root: str | Path | None = None) -> list[str]:
    """Recompute the check values of zoo model ``name`` from its stored weights with this version's
    code, and rewrite its card (card.json, card.md, card.html) and manifest entry; the weights,
    scores and every other file stay as they are. For cards made before a check value existed
    (the image cards' information per latent). Returns the changes (:func:`_changes`); an empty
    list when the card already had everything.
    """
    root = zoo_root(root)
    folder = verified_dir(check_name(name), root)
    card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    task = zoo_task(card_task(card))
    check = task.check(load_run(folder))
    fields = task.card_fields(check, card.get("figures", []))
    changes = _changes({"check": card["check"], **{k: card.get(k) for k in fields}}, {"check": check, **fields})
    if not changes:
        return []
    card = {**card, "check": check, **fields}
    atomic_write_json(folder / CARD_FILE, card)
    C.write_card_pages(folder, card, task.page(card))
    manifest = read_manifest(root)
    manifest["models"][name] = {"files": file_records(folder)}
    write_manifest(manifest, root)
    return changes
