"""One trained split as a folder: ``bvae crossmodal train`` writes it, ``eval`` re-measures it.

Folder: ``run.json`` (study config, protocol, object, variant, strategies, seeds, data source),
``vae.safetensors``, ``translator.safetensors``, ``history.npz`` (per-epoch train/val accuracy,
loss, KLs, β per member), ``metrics.json`` (the measurements at the end of training) and, after
``eval``, ``eval.json``. Only generated data (or a generic ``.npz`` path) can be re-measured,
because the run must rebuild the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from betavae.crossmodal.dataset import Corpus, DataConfig, generate, write_npz
from betavae.crossmodal.evaluate import Listener
from betavae.crossmodal.features import prepare
from betavae.crossmodal.splits import make_split
from betavae.crossmodal.study import StudyConfig, features_for, save_weights
from betavae.crossmodal.train import Progress
from betavae.crossmodal.units import Trained, fit_unit, load_models, measure_unit
from betavae.errors import BetavaeError
from betavae.io import atomic_write_json


def _setup(cfg: StudyConfig, corpus: Corpus, protocol: str, held_out):
    corpus = features_for(corpus, cfg)
    split = make_split(corpus.labels, protocol, held_out if protocol == "compositional" else None, cfg.val_split)
    prep = prepare(corpus, split.fit, cfg.scaler_fit, seed=cfg.data.seed)
    listener = Listener(prep.audio, corpus.labels["object"], corpus.labels["action"])
    return corpus, split, prep, listener


def train_run(cfg: StudyConfig, corpus: Corpus, protocol: str, held_out, variant: str, strategies: list[int],
              seeds: list[int], out: Path, progress: Progress | None = None) -> list[dict]:
    """Train, save and measure one split's members; returns the per-member records."""
    import torch

    torch.set_num_threads(cfg.threads)
    corpus, split, prep, listener = _setup(cfg, corpus, protocol, held_out)
    trained = fit_unit(prep, split, variant, strategies, seeds, cfg.units, progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, module in (("vae", trained.vae), ("translator", trained.translator)):
        save_weights(module, out / f"{name}.safetensors")
    write_npz(out / "history.npz", trained.history)
    atomic_write_json(out / "run.json", {"config": cfg.model_dump(mode="json"), "protocol": protocol,
                                         "held_out": held_out, "variant": variant, "strategies": strategies,
                                         "seeds": seeds, "source": corpus.meta.get("source", "generated"),
                                         "vae_members": trained.vae.m})
    records = measure_unit(trained, prep, split, corpus.labels, listener)
    atomic_write_json(out / "metrics.json", records)
    return records


def eval_run(folder: str | Path) -> list[dict]:
    """Rebuild a trained folder's models from its weights and measure them again (``eval.json``)."""
    folder = Path(folder)
    if not (folder / "run.json").is_file():
        raise BetavaeError(f"{folder} is not a cross-modal run folder (no run.json); train one with "
                           "'bvae crossmodal train --out FOLDER'")
    run = json.loads((folder / "run.json").read_text())
    cfg = StudyConfig.model_validate(run["config"])
    if run["source"] == "generated":
        corpus = generate(DataConfig.model_validate(cfg.data.model_dump()))
    elif str(run["source"]).endswith(".npz"):
        from betavae.crossmodal.files import load_npz

        corpus = load_npz(run["source"])
    else:
        raise BetavaeError(f"run on original files ({run['source']}) cannot be re-measured automatically")
    corpus, split, prep, listener = _setup(cfg, corpus, run["protocol"], run["held_out"])
    vae, translator = load_models(folder / "vae.safetensors", folder / "translator.safetensors", run["variant"],
                                  prep, cfg.units.translator)
    with np.load(folder / "history.npz", allow_pickle=False) as z:
        history = {k: z[k] for k in z.files}
    records = measure_unit(Trained(vae, translator, history, run["strategies"], run["seeds"]),
                           prep, split, corpus.labels, listener)
    atomic_write_json(folder / "eval.json", records)
    return records
