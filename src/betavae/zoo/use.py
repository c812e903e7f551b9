"""Use a zoo model: load it (after checking every file against the manifest), read its card,
export it as a normal run folder.

Nothing here unpickles: weights are safetensors, the config is YAML (safe loader), the card JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from betavae.errors import BetavaeError
from betavae.experiments.evaluate import EVAL_FILE
from betavae.experiments.load import LoadedRun, load_run
from betavae.experiments.rundir import CONFIG_FILE, META_FILE, METRICS_FILE, WEIGHTS_FILE
from betavae.io import atomic_write, atomic_write_json
from betavae.train.checkpoint import load_weights
from betavae.zoo.store import CARD_FILE, entry, verified_dir


def load(name: str, device: str = "cpu", root: str | Path | None = None) -> LoadedRun:
    """Zoo model ``name`` as :func:`betavae.load_run` gives a run (encode/decode ready on
    ``device``; an :class:`~betavae.experiments.load.ImageRun` for an image VAE); every file is
    checked against the manifest first."""
    return load_run(verified_dir(name, root), device=device)


def read_card(name: str, root: str | Path | None = None) -> dict[str, Any]:
    """The card of ``name`` (``card.json``, checked against the manifest)."""
    folder = verified_dir(name, root, [CARD_FILE])
    return json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))


def card_path(name: str, kind: str = "md", root: str | Path | None = None) -> Path:
    """The checked path of the card page ``card.md`` or ``card.html``."""
    return verified_dir(name, root, [f"card.{kind}"]) / f"card.{kind}"


def model_size(name: str, root: str | Path | None = None) -> int:
    """Bytes of the model's files (from the manifest)."""
    return sum(f["size"] for f in entry(name, root)["files"].values())


def export(name: str, out: str | Path, root: str | Path | None = None) -> Path:
    """Write zoo model ``name`` as a run folder ``out`` (config.yaml, meta.json, float32
    weights.safetensors, metrics.jsonl, eval.json) that every run command accepts; refuses an
    ``out`` that exists and is not an empty folder."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BetavaeError(f"{out} exists and is not an empty folder; give a new or empty folder")
    folder = verified_dir(name, root)
    card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for file in (CONFIG_FILE, METRICS_FILE, EVAL_FILE):
            shutil.copyfile(folder / file, staging / file)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        meta["zoo"] = {"name": name, "weights": "float32 from the zoo's stored " + card["weights"]["dtype"],
                       "exported_from": str(folder)}
        atomic_write_json(staging / META_FILE, meta)
        tensors, _, weights_meta = load_weights(folder / WEIGHTS_FILE)
        tensors = {k: (t.float() if t.is_floating_point() else t).contiguous() for k, t in tensors.items()}
        metadata = {"config": json.dumps(weights_meta.get("config", {})), "step": str(weights_meta.get("step", 0)),
                    "format": "betavae-1"}
        from safetensors.torch import save_file

        atomic_write(staging / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata=metadata))
        os.replace(staging, out)  # onto a missing or empty folder
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out



def evaluate_system(name: str, settings: Sequence[str] = (), metrics: list[str] | None = None,
                    root: str | Path | None = None) -> dict[str, Any]:
    """Score zoo model ``name`` (not an image VAE) with its task's evaluator, ``key=value``
    ``settings`` and ``metrics`` (as ``bvae eval RUN -s ...``). The evaluator writes ``eval.json``
    (a vsa one also ``swap.png``) beside the weights, so it runs on an exported copy in a
    temporary folder: the zoo stays read-only."""
    from betavae.experiments.evaluators import evaluate_with
    from betavae.experiments.rundir import read_run_config

    with tempfile.TemporaryDirectory(prefix="bvae-zoo-eval-") as tmp:
        run_dir = export(name, Path(tmp) / name, root)
        return evaluate_with(run_dir, read_run_config(run_dir).model.task, settings, metrics)
