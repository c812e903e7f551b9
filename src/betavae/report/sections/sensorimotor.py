"""The multimodal VAEs' report sections (Zambelli et al. 2020; Langer et al. 2024): the training
terms and α per epoch, the integration measures through training and at the end, and the test
protocols with normalised errors. Drawn from the run's files (``metrics.jsonl``: the ``eval.*``
rows of ``train.eval_every``; ``eval.json``), with the figures of :mod:`betavae.multimodal.figures`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from betavae.multimodal.settings import MEASURES
from betavae.report.sections import SectionOptions, index_section, report_section

if TYPE_CHECKING:
    from betavae.report.build import Builder

PER_MODALITY = [m for m in MEASURES if m not in ("baseline_all", "prediction_error")]


@report_section("sensorimotor")
def training_and_measures(b: Builder, options: SectionOptions) -> None:
    """Training terms and α per epoch; the measures through training (log scale) and their
    final-window values per modality."""
    from betavae.multimodal import figures as F
    from betavae.multimodal.study import load_study

    if b.files.config is None:
        return
    study = b.attempt("reading the run", lambda: load_study([b.run_dir]))
    if study is None or not study.histories:
        return
    label = study.schedules[0]
    b.add("Training", b.attempt("training terms", lambda: F.training_figure(
        study.records, study.histories, b.fig_dir / "mm_training.png")), f"Training terms ({label})",
        "Prediction error (at the evaluation epochs, when measured), reconstruction loss (Σ_i NLL_i/d_i), "
        "latent KL, loss and the KL weight α per epoch (batch means over the epoch).")
    if not any(r["measure"] == "baseline_all" for r in study.records):
        b.notes.append("no integration measures during training (set train.eval_every and train.eval_metrics)")
        return
    b.add("Measures", b.attempt("measures through training", lambda: F.measure_curves_figure(
        study.records, b.fig_dir / "mm_measure_curves.png")), "SME and LoP through training",
        "Per modality against the epoch (epoch 0: the untrained model), log scale: the measures span "
        "orders of magnitude. Nats.")
    b.add("Measures", b.attempt("baseline", lambda: F.baseline_figure(study.records, b.fig_dir / "mm_baseline.png")),
          "Baseline B^all through training", "KL between the reconstructions of the full and of a fully muted "
          "input, summed over all columns (symlog scale).")
    b.add("Measures", b.attempt("measures per modality", lambda: F.measures_figure(
        study.records, study.epochs, b.fig_dir / "mm_measures.png")), "Measures per modality (final window)",
        "SME and LoP per modality, averaged over the checkpoints of the last eighth of training (symlog).")


@report_section("sensorimotor")
def final_tables(b: Builder, options: SectionOptions) -> None:
    """The measures of eval.json per modality, and the test protocols (normalised RMSE, NLL)."""
    values = b.files.eval_values or {}
    mods = list(dict.fromkeys(k.split(".", 1)[1] for k in values if k.startswith("sme_mod.")))
    if mods:
        rows = [[m, *(values.get(f"{m}.{mod}") for mod in mods)] for m in PER_MODALITY]
        b.add_table("Measures", "Integration measures after training (eval.json)", ["measure", *mods], rows,
                    f"Nats, on the settings' evaluation points (model.measures). Baseline B^all "
                    f"{values.get('baseline_all')}, prediction error {values.get('prediction_error')}.")
    try:
        prot: dict[str, Any] = json.loads((b.run_dir / "eval.json").read_text()).get("protocols") or {}
    except (OSError, ValueError, AttributeError):
        prot = {}
    if not prot:
        return
    mods = list(dict.fromkeys(k.rsplit(".", 1)[1] for k in prot if ".nll." in k))
    tests = list(dict.fromkeys(k.split(".", 1)[0] for k in prot if not k.endswith(".count")))
    nrmse = [[t, *(prot.get(f"{t}.nrmse_muted.{m}", prot.get(f"{t}.nrmse.{m}")) for m in mods)] for t in tests]
    b.add_table("Test protocols", "Normalised RMSE of the muted columns", ["test", *mods],
                [r for r in nrmse if any(v is not None for v in r[1:])],
                "RMSE on the columns the test mutes (rollout j: the predicted t block against row k+j−1) divided "
                "by the RMS deviation of those columns from their means: 1 = predicting the mean, 0 = exact. "
                "Test rows 100–1099 (Zambelli et al. 2020).")
    b.add_table("Test protocols", "Gaussian NLL per modality (nats per row)", ["test", *mods],
                [[t, *(prot.get(f"{t}.nll.{m}") for m in mods)] for t in tests if f"{t}.nll.{mods[0]}" in prot],
                "Summed over the modality's columns, averaged over the test rows, with every column scored.")


@index_section("sensorimotor")
def study_findings(b: Builder, rows: list) -> None:
    """Langer et al.'s findings over the sweep's runs: figures and tables per schedule, intervals
    over seeds (betavae.multimodal.index)."""
    from pathlib import Path

    from betavae.multimodal.index import index_section as study_index

    b.fig_dir.mkdir(parents=True, exist_ok=True)
    found = study_index([Path(r["dir"]) for r in rows], rows, b.fig_dir)
    b.notes.extend(found["notes"])
    for t in found["tables"]:
        b.add_table("Findings", t["title"], t["columns"], t["rows"], t.get("caption", ""))
    for f in found["figures"]:
        b.add("Findings", b.fig_dir / Path(f["src"]).name, f["title"], f["caption"])
