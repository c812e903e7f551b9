"""A multimodal study (Langer et al. 2024): N seeds per KL-weight schedule, measures through training.

Each schedule's seeds train together as one batched ensemble: one run config per seed
(:func:`run_configs`), trained by the one loop (:class:`betavae.train.loop.Loop`, the
``sensorimotor`` task). The integration measures are computed at epoch 0 and every
``eval_every`` epochs (and after the last epoch) on the same evaluation points for every model,
from the loop's per-epoch rows. Output folder::

    study.json            config, reconstructed choices, data source, timings
    measures.json / .csv  one record per schedule, seed, checkpoint epoch and measure (long CSV)
    history_<label>.npz   per-epoch loss, recon, kl, alpha: (epochs, seeds) each
    protocols.json        the five test protocols (§7) per schedule and seed, after training
    weights/<label>_s<seed>.safetensors
    figures/*.png, report.html (see :mod:`betavae.multimodal.report`)
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, PositiveInt

from betavae.bounds import Positive, Seed
from betavae.config import RunConfig, Strict, TrainConfig
from betavae.data.sensorimotor import Sensorimotor, SensorimotorConfig
from betavae.errors import BetavaeError
from betavae.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from betavae.models.multimodal import EnsembleVAE, ZambelliConfig
from betavae.multimodal.layout import mask_from_spec
from betavae.multimodal.measures import Reconstruct, integration_measures
from betavae.multimodal.protocols import run_protocols
from betavae.multimodal.schedules import resolve_schedule
from betavae.multimodal.settings import MeasureSettings, TrainSettings, eval_points
from betavae.objectives.multimodal import MultimodalELBOConfig
from betavae.schedules import Schedule
from betavae.train.loop import Loop

SPLIT_MEASURES = ("sme_mod", "sme_all", "lop_mod", "lop_all", "baseline_mod")
TERMS = ("loss", "recon", "kl", "alpha")


class StudyConfig(Strict):
    schedules: list[str] = ["const1", "const0", "dyn_plateau0", "dyn_plateau1"]
    seeds: list[Seed] = Field(default_factory=lambda: list(range(20)))
    time_scale: Positive | None = None  # None: epochs / 80,000
    min_period: PositiveInt = 8  # floor of the scaled dynamic-cycle period (epochs)
    train: TrainSettings = TrainSettings()
    measures: MeasureSettings = MeasureSettings()
    data: SensorimotorConfig = SensorimotorConfig()
    rollout_steps: PositiveInt = 5


def run_configs(cfg: StudyConfig, schedule: Schedule) -> list[RunConfig]:
    """One run config per seed of the study, all on ``schedule`` (log rows every epoch)."""
    t = cfg.train
    train = TrainConfig(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, log_every=1, checkpoint_every=t.epochs,
                        device=t.device, threads=t.threads, speed="plain", report=False)
    model = ZambelliConfig(n_z=t.n_z, precision=t.precision)
    objective = MultimodalELBOConfig(alpha=schedule, nll_constant=t.nll_constant)
    return [RunConfig(name="multimodal_study", seed=s, data=cfg.data, model=model, objective=objective, train=train)
            for s in cfg.seeds]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Set torch's intra-op threads inside the block (None: leave as is)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def reconstructor(model: EnsembleVAE, latent_mode: str = "mean", samples: int = 8, seed: int = 0) -> Reconstruct:
    """A NumPy ``reconstruct(x (N, D)) -> (μ, log σ²)`` of every member, (E, N, D) (mean latent),
    or (S, E, N, D) with ``latent_mode="sample"`` (the same S noise draws for every input)."""
    ref = next(iter(model.params.values()))

    def mean(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, lv = model.reconstruct(torch.as_tensor(x, dtype=ref.dtype, device=ref.device))
        return mu.double().cpu().numpy(), lv.double().cpu().numpy()

    def sample(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gen = torch.Generator().manual_seed(seed)
        shape = (model.size, len(x), model.n_z)
        mus, lvs = [], []
        with torch.no_grad():
            for _ in range(samples):
                eps = torch.randn(shape, generator=gen, dtype=torch.float64).to(ref)
                out = model(torch.as_tensor(x).to(ref), eps)
                mus.append(out["mu_x"].double().cpu().numpy())
                lvs.append(out["logvar_x"].double().cpu().numpy())
        return np.stack(mus), np.stack(lvs)

    return mean if latent_mode == "mean" else sample


def checkpoints(epochs: int, every: int) -> list[int]:
    """Epochs (completed) at which the measures are taken: 0, every, 2·every, …, and epochs."""
    return sorted({0, *range(every, epochs + 1, every), epochs})


def split_key(key: str) -> tuple[str, str]:
    """``sme_mod.vision`` -> (sme_mod, vision); ``baseline_all`` -> (baseline_all, all)."""
    measure, _, modality = key.partition(".")
    return measure, modality or "all"


def measure_ensemble(model: EnsembleVAE, points: np.ndarray, ms: MeasureSettings) -> dict[str, np.ndarray]:
    """Every measure for every member: {key: (E,)}."""
    fn = reconstructor(model, ms.latent_mode, ms.samples, ms.eval_seed)
    layout = model.layout
    pe_keep = None if ms.pe_input == "full" else mask_from_spec(ms.pe_input, layout)
    vals = integration_measures(fn, points, layout, kl_direction=ms.kl_direction, sme_keep=ms.sme_keep,
                                lop_mute=ms.lop_mute, pe_keep=pe_keep)
    return {k: v.mean(0) if ms.latent_mode == "sample" else v for k, v in vals.items()}


def _records(label: str, seeds: list[int], epoch: int, vals: dict[str, np.ndarray]) -> list[dict]:
    out = []
    for key, v in vals.items():
        measure, modality = split_key(key)
        out += [{"schedule": label, "seed": s, "epoch": epoch, "measure": measure, "modality": modality,
                 "value": float(v[k])} for k, s in enumerate(seeds)]
    return out


def records_csv(records: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["schedule", "seed", "epoch", "measure", "modality", "value"],
                       lineterminator="\n")
    w.writeheader()
    w.writerows(records)
    return buf.getvalue()


def write_history(path: Path, hist: dict[str, np.ndarray], seeds: list[int]) -> None:
    buf = io.BytesIO()
    np.savez(buf, seeds=np.asarray(seeds), **hist)
    atomic_write_bytes(path, buf.getvalue())


def save_weights(model: EnsembleVAE, folder: Path, label: str, meta: dict) -> None:
    from safetensors.torch import save as st_save

    for k, seed in enumerate(model.seeds):
        info = {key: str(v) for key, v in meta.items()} | {"seed": str(seed)}
        state = {name: t.cpu() for name, t in model.member_state(k).items()}
        atomic_write_bytes(folder / f"{label}_s{seed}.safetensors", st_save(state, info))


def run_schedule(cfg: StudyConfig, data: Sensorimotor, points: np.ndarray, label: str, schedule: Schedule,
                 out: Path, on_epoch: Callable[[str, int], None] | None = None) -> tuple[list[dict], list[dict]]:
    """Train one schedule's seeds as one ensemble (the one loop), measuring at the checkpoints;
    write its history and weights; return (measure records, protocol records)."""
    marks = set(checkpoints(cfg.train.epochs, cfg.train.eval_every))
    loop = Loop(run_configs(cfg, schedule))
    model, seeds = loop.task.model, list(cfg.seeds)
    records = _records(label, seeds, 0, measure_ensemble(model, points, cfg.measures))
    rows: list[list[dict[str, Any]]] = [[] for _ in seeds]

    def log(k: int, row: dict[str, Any]) -> None:  # one row per member and epoch, members in order
        rows[k].append(row)
        if k < len(seeds) - 1:
            return
        epoch = row["epoch"]
        if epoch in marks:
            vals = measure_ensemble(model, points, cfg.measures)
            vals.update({f"train_{t}": np.array([r[-1][t] for r in rows]) for t in TERMS})
            records.extend(_records(label, seeds, epoch, vals))
        if on_epoch is not None:
            on_epoch(label, epoch - 1)

    loop.fit(log, save=lambda k, state: None)
    hist = {t: np.array([[r[e][t] for r in rows] for e in range(len(rows[0]))]) for t in TERMS}
    write_history(out / f"history_{label}.npz", hist, seeds)
    prot = run_protocols(reconstructor(model), data.test, data.consecutive(), data.layout,
                         rollout_steps=cfg.rollout_steps)
    n = len(seeds)
    protocols = [{"schedule": label, "seed": s, **{k: float(np.broadcast_to(v, (n,))[i]) for k, v in prot.items()}}
                 for i, s in enumerate(seeds)]
    save_weights(model, out / "weights", label, {"schedule": label, "precision": cfg.train.precision})
    return records, protocols


def run_study(cfg: StudyConfig, out: Path, on_epoch: Callable[[str, int], None] | None = None) -> dict:
    """Train and measure every schedule; write the study folder; return ``study.json``'s content."""
    if not cfg.seeds:
        raise BetavaeError("a study needs at least one seed")
    data = cfg.data.build()
    points = eval_points(data, cfg.measures)
    mask_from_spec(cfg.measures.pe_input, data.layout)  # fail before training, not after
    sched = [resolve_schedule(s, cfg.train.epochs, cfg.time_scale, cfg.min_period) for s in cfg.schedules]
    labels = [label for label, _ in sched]
    for label in labels:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", label):
            raise BetavaeError(f"schedule label {label!r} must use only letters, digits, '_', '.', '-' "
                               "(give an inline schedule a 'name')")
    if len(set(labels)) != len(labels):
        raise BetavaeError(f"schedules repeat: {', '.join(labels)}")
    out.mkdir(parents=True, exist_ok=True)  # only now: a study that cannot start leaves no folder
    meta = {"config": cfg.model_dump(mode="json"), "data_source": data.source, "n_eval_points": len(points),
            "schedules": {label: s.model_dump(mode="json") for label, s in sched},
            "checkpoints": checkpoints(cfg.train.epochs, cfg.train.eval_every), "seconds": {}}
    records: list[dict] = []
    protocols: list[dict] = []
    with torch_threads(cfg.train.threads):
        meta["torch_threads"] = torch.get_num_threads()
        for label, schedule in sched:
            start = time.perf_counter()
            recs, prots = run_schedule(cfg, data, points, label, schedule, out, on_epoch)
            records.extend(recs)
            protocols.extend(prots)
            meta["seconds"][label] = time.perf_counter() - start
            meta["completed"] = [*meta.get("completed", []), label]
            write_results(out, meta, records, protocols)  # after each schedule: a kill loses one at most
    return meta


def write_results(out: Path, meta: dict, records: list[dict], protocols: list[dict]) -> None:
    """measures.json/.csv, protocols.json and study.json, each written atomically."""
    atomic_write_json(out / "measures.json", records)
    atomic_write_text(out / "measures.csv", records_csv(records))
    atomic_write_json(out / "protocols.json", protocols)
    atomic_write_json(out / "study.json", meta)
