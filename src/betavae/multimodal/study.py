"""A multimodal study's results read back from its run folders (Langer et al. 2024).

The study itself is a sweep (``bvae sweep sweep_multimodal_langer``): a grid over the KL-weight
schedules × seeds, trained as stacked ensembles, measured during training (``train.eval_every``:
``eval.*`` in each run's ``metrics.jsonl``, also at epoch 0) and after it (``eval.json``). This
module turns a set of run folders into what the study's tables and figures need:

- ``records``: one per schedule, seed, evaluation epoch, measure and modality (the measures of the
  evaluation rows, and the training terms ``train_loss``, ``train_recon``, ``train_kl``,
  ``train_alpha`` of those rows), the input of :mod:`betavae.multimodal.summary`;
- ``histories``: epoch, loss, recon, kl, alpha of every logged row, (rows, seeds) per schedule;
- ``protocols``: the test protocols of each run's ``eval.json``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from betavae.config import RunConfig
from betavae.experiments.rundir import read_metrics, read_run_config
from betavae.multimodal.schedules import STUDY_SCHEDULES

TERMS = ("loss", "recon", "kl", "alpha")
#: the catalogue's kl_weight variants by the study's names
STUDY_NAMES = {variant: name for name, variant in STUDY_SCHEDULES.items()}


def schedule_label(config: RunConfig) -> str:
    """The study's name of the run's KL-weight schedule (const1, const0, dyn_plateau0,
    dyn_plateau1), or the schedule's kind (and variant) for any other."""
    alpha = config.objective.alpha
    variant = getattr(alpha, "variant", None)
    if alpha.kind == "kl_weight" and variant in STUDY_NAMES:
        return STUDY_NAMES[variant]
    return alpha.kind + (f"_{variant}" if variant else "")


def split_key(key: str) -> tuple[str, str]:
    """``sme_mod.vision`` -> (sme_mod, vision); ``baseline_all`` -> (baseline_all, all)."""
    measure, _, modality = key.partition(".")
    return measure, modality or "all"


def run_records(rows: Sequence[dict[str, Any]], schedule: str, seed: int) -> list[dict[str, Any]]:
    """The records of one run's metrics rows: each ``eval.<measure>[.<modality>]`` value, and the
    training terms of the rows that carry evaluations (not of the untrained model's row)."""
    out = []
    for row in rows:
        keys = [k for k in row if k.startswith("eval.")]
        if not keys:
            continue
        vals = {k.removeprefix("eval."): row[k] for k in keys}
        vals.update({f"train_{t}": row[t] for t in TERMS if t in row})
        out += [{"schedule": schedule, "seed": seed, "epoch": row["epoch"], "measure": m, "modality": mod,
                 "value": float(v)} for key, v in vals.items() for m, mod in [split_key(key)]]
    return out


@dataclass
class Study:
    """What a set of multimodal run folders holds (see the module docstring); ``epochs`` is the
    runs' length (the windows' unit), ``runs`` the folders by (schedule, seed)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    histories: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    protocols: list[dict[str, Any]] = field(default_factory=list)
    epochs: int = 0
    runs: dict[tuple[str, int], Path] = field(default_factory=dict)

    @property
    def schedules(self) -> list[str]:
        return list(dict.fromkeys(s for s, _ in self.runs))


def load_study(run_dirs: Sequence[str | Path]) -> Study:
    """Read the runs' configs, metrics rows and ``eval.json`` files into a :class:`Study`; runs
    of other tasks are left out. Histories hold the epochs every seed of a schedule has logged."""
    study = Study()
    terms: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)
    for run_dir in map(Path, run_dirs):
        config = read_run_config(run_dir)
        if config.model.task != "sensorimotor":
            continue
        label, seed = schedule_label(config), config.seed
        study.runs[(label, seed)] = run_dir
        study.epochs = max(study.epochs, config.train.epochs or 0)
        rows = read_metrics(run_dir)
        study.records += run_records(rows, label, seed)
        trained = [r for r in rows if "loss" in r]
        terms[label].append({t: np.array([r.get(t, np.nan) for r in trained], dtype=np.float64)
                             for t in ("epoch", *TERMS)})
        try:
            prot = json.loads((run_dir / "eval.json").read_text()).get("protocols")
        except (OSError, ValueError):
            prot = None
        if isinstance(prot, dict):
            study.protocols.append({"schedule": label, "seed": seed, **prot})
    for label, runs in terms.items():
        n = min(len(r["loss"]) for r in runs)
        study.histories[label] = {t: np.stack([r[t][:n] for r in runs], axis=1) for t in runs[0]}
    return study
