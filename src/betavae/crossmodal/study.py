"""The cross-modal study: Tables 2, 3 and 4 of Bangarwaa (2025) recomputed, for both variants.

Units (each one ``units/<name>.json``, written atomically; a rerun skips finished units, so an
interrupted study resumes):

- ``symbol_<variant>``: the symbol-grounding split, one β-VAE member per β strategy (Table 2),
  each with its translator; the chosen strategy's member gives Table 3.
- ``symbol_baseline``: the raw-feature Seq2Seq on the same split.
- ``compositional<k>_<variant>`` / ``compositional<k>_baseline``: object k's action clips held
  out, the chosen strategy, one member per seed (Table 4).

β-VAE and translator weights go to ``units/<name>.vae.safetensors`` / ``.translator.safetensors``.
``study.json`` holds the config, the data description, the seconds per unit and the wall time.

``workers > 1`` runs units in that many processes (one torch thread each): each worker claims a
unit by creating ``units/<name>.claim`` exclusively, so no unit runs twice; claims left by a killed
run are cleared when the study starts again.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import time
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field

from betavae.bounds import Seed
from betavae.config import Strict
from betavae.crossmodal.dataset import Corpus, DataConfig, generate
from betavae.crossmodal.evaluate import Listener, retrieval
from betavae.crossmodal.features import prepare
from betavae.crossmodal.splits import make_split
from betavae.crossmodal.train import Progress
from betavae.crossmodal.units import (
    UnitSettings,
    baseline_unit,
    fit_unit,
    load_models,
    measure_unit,
    member_latents,
)
from betavae.data.audiovisual import features_for as mode_features
from betavae.errors import BetavaeError
from betavae.io import atomic_write, atomic_write_json
from betavae.models.crossmodal import VARIANTS
from betavae.models.seq2seq import translate

log = logging.getLogger(__name__)


class StudyConfig(Strict):
    data: DataConfig = DataConfig()
    mode: Literal["faithful", "temporal"] = "faithful"
    #: faithful-mode audio tokens: kmeans (of 20-ms MFCC frames) or phonemes (espeak events)
    tokens: Literal["kmeans", "phonemes"] = "kmeans"
    variants: list[Literal["separate", "joint"]] = list(VARIANTS)
    strategies: list[Annotated[int, Field(ge=1, le=9)]] = Field(default_factory=lambda: list(range(1, 10)))
    chosen: int = Field(6, ge=1, le=9)
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2])
    objects: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    scaler_fit: Literal["train", "all"] = "train"
    val_split: Literal["row", "group"] = "row"
    units: UnitSettings = UnitSettings()
    threads: int = Field(1, ge=1)
    workers: int = Field(1, ge=1)


def features_for(corpus: Corpus, cfg: StudyConfig) -> Corpus:
    """The corpus's features for the study's feature mode and audio tokens."""
    return mode_features(corpus, cfg.mode, cfg.tokens)


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
              data_progress=None, only: list[str] | None = None, data_seconds: float | None = None) -> dict:
    """Run (or resume) every unit of ``cfg`` (or the units named in ``only``) into ``out``, in
    ``cfg.workers`` processes; returns study.json's content. ``data_seconds``: how long a corpus
    passed in took to load or generate (measured here when the corpus is generated here)."""
    out = Path(out)
    t0 = time.perf_counter()
    if corpus is None:
        corpus = generate(cfg.data, data_progress)
    (out / "units").mkdir(parents=True, exist_ok=True)  # after the data: a failed start leaves nothing
    if data_seconds is None:
        data_seconds = time.perf_counter() - t0
    meta_path = out / "study.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta.update({"config": cfg.model_dump(mode="json"), "n_rows": corpus.n_rows, "data_meta": corpus.meta,
                 "data_seconds": meta.get("data_seconds", data_seconds)})
    atomic_write_json(meta_path, meta)
    start = time.perf_counter()
    if cfg.workers == 1:
        _run_units(cfg, out, corpus, progress, only)
    else:
        _run_workers(cfg, out, corpus, progress, only)
    add_retrieval(cfg, out, corpus)
    meta["seconds"] = {name: unit["seconds"] for name, unit in load_units(out).items()}
    runs = meta.setdefault("wall_seconds", [])
    runs.append({"workers": cfg.workers, "seconds": time.perf_counter() - start})
    atomic_write_json(meta_path, meta)
    return meta


def _claim(path: Path) -> bool:
    """Create ``path`` exclusively; False if another worker holds it."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _run_workers(cfg: StudyConfig, out: Path, corpus: Corpus, progress: Progress | None,
                 only: list[str] | None) -> None:
    """``cfg.workers`` spawned processes share the unit plan through claim files; their progress
    events come back through a queue. A failed worker stops the others and raises."""
    for stale in (out / "units").glob("*.claim"):
        stale.unlink()
    if progress:  # units finished before, or not asked for
        progress("skip", sum(unit_epochs(cfg, u) for u in unit_plan(cfg)
                             if (out / "units" / f"{u['name']}.json").is_file()
                             or (only is not None and u["name"] not in only)))
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(cfg, out, corpus, events, only), daemon=True)
             for _ in range(cfg.workers)]
    for proc in procs:
        proc.start()
    try:
        while any(proc.is_alive() for proc in procs) and not any(proc.exitcode for proc in procs):
            try:
                stage, n = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if progress and stage != "skip":
                progress(stage, n)
    finally:
        for proc in procs:
            if proc.is_alive() and any(p.exitcode for p in procs):
                proc.terminate()
            proc.join()
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed:
        raise BetavaeError(f"{len(failed)} of {cfg.workers} study workers failed (exit codes {failed}); "
                           "finished units are kept, rerun the same command to resume")


def _worker(cfg: StudyConfig, out: Path, corpus: Corpus, events, only: list[str] | None) -> None:
    _run_units(cfg, out, corpus, lambda stage, n: events.put((stage, n)), only, claim=True)


def _run_units(cfg: StudyConfig, out: Path, corpus: Corpus, progress: Progress | None,
               only: list[str] | None, claim: bool = False) -> None:
    """Run the plan's unfinished units in order (with ``claim``: only those this process claims)."""
    torch.set_num_threads(cfg.threads)
    corpus = features_for(corpus, cfg)
    prepared: dict = {}
    for unit in unit_plan(cfg):
        path = out / "units" / f"{unit['name']}.json"
        claim_path = path.with_suffix(".claim")
        if (path.is_file() or (only is not None and unit["name"] not in only)
                or (claim and not _claim(claim_path))):
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
        seconds = time.perf_counter() - start
        atomic_write_json(path, {"unit": unit, "split": {"train": len(split.train), "val": len(split.val),
                                                           "test": len(split.test)},
                                 "test_groups": sorted(np.unique(corpus.labels["group"][split.test]).tolist()),
                                 "seconds": seconds, "members": records})
        if claim:
            claim_path.unlink(missing_ok=True)
        log.info("unit %s done in %.1f s", unit["name"], seconds)


def add_retrieval(cfg: StudyConfig, out: Path, corpus: Corpus) -> list[str]:
    """Add the §11b retrieval accuracies to finished β-VAE units measured before they existed,
    from the units' saved weights; returns the names of the units updated."""
    corpus = features_for(corpus, cfg)
    labels, done = corpus.labels, []
    for name, unit in load_units(out).items():
        plan = unit["unit"]
        if plan["variant"] == "baseline" or all("retrieval" in m for m in unit["members"]):
            continue
        split = make_split(labels, plan["protocol"], plan.get("held_out"), cfg.val_split)
        prep = prepare(corpus, split.fit, cfg.scaler_fit, seed=cfg.data.seed)
        vae, translator = load_models(out / "units" / f"{name}.vae.safetensors",
                                      out / "units" / f"{name}.translator.safetensors", plan["variant"], prep,
                                      cfg.units.translator)
        mv, ma = member_latents(vae, prep, len(unit["members"]))
        pred = translate(translator, mv[:, split.test, None], ma[:, split.test, None])[:, :, 0]
        for i, member in enumerate(unit["members"]):
            member["retrieval"] = retrieval(pred[i], ma[i, split.train], labels["object"][split.train],
                                            labels["action"][split.train], labels["object"][split.test],
                                            labels["action"][split.test])
        atomic_write_json(out / "units" / f"{name}.json", unit)
        done.append(name)
    return done


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """A module's state dict as safetensors, written atomically."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in module.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp))


def load_units(out: Path) -> dict[str, dict]:
    """Every finished unit of a study folder, by name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((Path(out) / "units").glob("*.json"))}
