"""The cross-modal study: Tables 2, 3 and 4 of Bangarwaa (2025) recomputed, for both variants.

Units (each one ``units/<name>.json``, written atomically; a rerun skips finished units, so an
interrupted study resumes):

- ``symbol_<variant>``: the symbol-grounding split, one β-VAE member per β strategy (Table 2),
  each with its translator; the chosen strategy's member gives Table 3.
- ``symbol_baseline``: the raw-feature Seq2Seq on the same split.
- ``compositional<k>_<variant>`` / ``compositional<k>_baseline``: object k's action clips held
  out, the chosen strategy, one member per seed (Table 4).

β-VAE and translator weights go to ``units/<name>.vae.safetensors`` / ``.translator.safetensors``.
``study.json`` holds the config, the data description, and the seconds per unit.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from betavae.config import Strict
from betavae.crossmodal.dataset import Corpus, DataConfig, generate
from betavae.crossmodal.evaluate import Listener
from betavae.crossmodal.features import prepare
from betavae.crossmodal.model import VARIANTS
from betavae.crossmodal.splits import make_split
from betavae.crossmodal.train import Progress
from betavae.crossmodal.units import UnitSettings, baseline_unit, fit_unit, measure_unit
from betavae.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)


class StudyConfig(Strict):
    data: DataConfig = DataConfig()
    mode: Literal["faithful", "temporal"] = "faithful"
    variants: list[Literal["separate", "joint"]] = list(VARIANTS)
    strategies: list[int] = Field(default_factory=lambda: list(range(1, 10)))
    chosen: int = Field(6, ge=1, le=9)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    objects: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    scaler_fit: Literal["train", "all"] = "train"
    val_split: Literal["row", "group"] = "row"
    units: UnitSettings = UnitSettings()
    threads: int = Field(1, ge=1)


def unit_plan(cfg: StudyConfig) -> list[dict]:
    """The study's units in run order."""
    plan = [{"name": f"symbol_{v}", "protocol": "symbol", "variant": v, "strategies": cfg.strategies,
             "seeds": [cfg.seeds[0]] * len(cfg.strategies)} for v in cfg.variants]
    plan.append({"name": "symbol_baseline", "protocol": "symbol", "variant": "baseline", "seeds": cfg.seeds[:1]})
    for k in cfg.objects:
        for v in cfg.variants:
            plan.append({"name": f"compositional{k}_{v}", "protocol": "compositional", "held_out": k, "variant": v,
                         "strategies": [cfg.chosen] * len(cfg.seeds), "seeds": cfg.seeds})
        plan.append({"name": f"compositional{k}_baseline", "protocol": "compositional", "held_out": k,
                     "variant": "baseline", "seeds": cfg.seeds})
    return plan


def unit_epochs(cfg: StudyConfig, unit: dict) -> int:
    """Progress units (epochs) a unit will report."""
    if unit["variant"] == "baseline":
        return cfg.units.baseline_epochs
    return cfg.units.vae.epochs + cfg.units.translator.epochs


def run_study(cfg: StudyConfig, out: Path, corpus: Corpus | None = None, progress: Progress | None = None,
              data_progress=None, only: list[str] | None = None) -> dict:
    """Run (or resume) every unit of ``cfg`` (or the units named in ``only``) into ``out``; returns
    study.json's content. Several processes may share one folder when given disjoint ``only``."""
    out = Path(out)
    (out / "units").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    if corpus is None:
        corpus = generate(cfg.data, data_progress)
    corpus = corpus.with_mode(cfg.mode)
    data_seconds = time.perf_counter() - t0
    meta_path = out / "study.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta.update({"config": cfg.model_dump(mode="json"), "n_rows": corpus.n_rows, "data_meta": corpus.meta,
                 "data_seconds": meta.get("data_seconds", data_seconds)})
    seconds = meta.setdefault("seconds", {})
    prepared: dict = {}
    for unit in unit_plan(cfg):
        path = out / "units" / f"{unit['name']}.json"
        if path.is_file() or (only is not None and unit["name"] not in only):
            if progress:
                progress("skip", unit_epochs(cfg, unit))
            continue
        start = time.perf_counter()
        split = make_split(corpus.labels, unit["protocol"], unit.get("held_out"), cfg.val_split)
        if split.name not in prepared:
            prepared.clear()  # keep one split's arrays in memory
            prep = prepare(corpus, split.fit, cfg.scaler_fit, seed=cfg.data.seed)
            listener = Listener(prep.audio, corpus.labels["object"], corpus.labels["action"])
            prepared[split.name] = (prep, listener)
        prep, listener = prepared[split.name]
        if unit["variant"] == "baseline":
            records = baseline_unit(prep, split, corpus.labels, listener, unit["seeds"], cfg.units, progress)
        else:
            trained = fit_unit(prep, split, unit["variant"], unit["strategies"], unit["seeds"], cfg.units, progress)
            records = measure_unit(trained, prep, split, corpus.labels, listener)
            for part, module in (("vae", trained.vae), ("translator", trained.translator)):
                save_weights(module, out / "units" / f"{unit['name']}.{part}.safetensors")
        seconds[unit["name"]] = time.perf_counter() - start
        atomic_write_json(path, {"unit": unit, "split": {"train": len(split.train), "val": len(split.val),
                                                           "test": len(split.test)},
                                 "test_groups": sorted(np.unique(corpus.labels["group"][split.test]).tolist()),
                                 "seconds": seconds[unit["name"]], "members": records})
        meta["seconds"] = seconds
        atomic_write_json(meta_path, meta)
        log.info("unit %s done in %.1f s", unit["name"], seconds[unit["name"]])
    atomic_write_json(meta_path, meta)
    return meta


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """A module's state dict as safetensors, written atomically."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in module.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp))


def load_units(out: Path) -> dict[str, dict]:
    """Every finished unit of a study folder, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((Path(out) / "units").glob("*.json"))}
