"""dSprites-VSA's report sections: a run's measures and pictures, and the grid's Good/Bad table
in a sweep's index (spec/dsprites-vsa.md §6–7; docs/vsa.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from betavae.data.dsprites import FACTOR_NAMES
from betavae.experiments.rundir import read_metrics
from betavae.report.inputs import EVAL_FILE
from betavae.report.sections import SectionOptions, index_section, report_section

if TYPE_CHECKING:
    from betavae.report.build import Builder

MEASURES = "Measures"
#: reconstruction rows: (label, eval key prefix)
RECONSTRUCTIONS = (("direct (unswapped, PD)", "vsa.direct"), ("swapped (PD)", "vsa.swap"),
                   ("scene (SD: sum of objects; PSD: crosswise)", "vsa.scene"),
                   ("direct scene (PSD)", "vsa.direct_scene"), ("object alone (SD)", "vsa.object"),
                   ("unbound object (PSD)", "vsa.unbind"))


def _eval_file(b: Builder) -> dict[str, Any]:
    path = b.run_dir / EVAL_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


@report_section("vsa")
def vsa_measures(b: Builder, options: SectionOptions) -> None:
    """The measures of ``eval.json`` as tables: verdict, reconstructions, swap accuracy per feature,
    classifier ceiling, recombination, the count confusion and the slot-probe matrix."""
    values = b.files.eval_values
    if not values:
        b.notes.append("no vsa measures yet: `bvae eval RUN` writes eval.json (then `bvae report RUN`)")
        return
    stored = _eval_file(b)
    settings, tables = stored.get("settings") or {}, stored.get("tables") or {}
    stage = b.files.config.data.stage if b.files.config is not None else "?"
    if "vsa.good" in values or (stage in ("pd", "psd") and values.get("vsa.classifier.trusted") is False):
        rule = ({"pd": "swap IoU ≥ {pd_iou} and changed accuracy ≥ {pd_swap}",
                 "psd": "scene IoU ≥ {psd_iou}, count accuracy ≥ {psd_count} and changed accuracy ≥ {psd_swap}"}
                .get(stage, "")).format(**settings) if settings else ""
        verdict = ("Good" if values["vsa.good"] else "Bad") if "vsa.good" in values else \
            "no verdict: the factor classifier is not trusted"
        b.add_table(MEASURES, "Good/Bad", ["verdict", "rule (spec §6)", "classifier trusted (≥ 0.98 per head)"],
                    [[verdict, rule, values.get("vsa.classifier.trusted")]])
    rows = [[label, values.get(f"{key}.bce"), values[f"{key}.iou"]] for label, key in RECONSTRUCTIONS
            if f"{key}.iou" in values]
    b.add_table(MEASURES, "Reconstruction", ["images", "BCE (nats / image)", "IoU"], rows,
                "On the test split with μ (no sampling); IoU of the binarised reconstruction [logit > 0].")
    acc = [[name, values.get(f"vsa.swap_acc.changed.{name}"), values.get(f"vsa.recombination.{name}"),
            values.get(f"vsa.classifier.{name}")] for name in FACTOR_NAMES]
    acc.append(["all five / mean", values.get("vsa.swap_acc.changed"), values.get("vsa.recombination.full"),
                values.get("vsa.classifier.full")])
    if any(v is not None for r in acc for v in r[1:]):
        b.add_table(MEASURES, "Per feature", ["feature", "swap: changed-feature accuracy", "recombination accuracy",
                                              "classifier ceiling"], acc,
                    "Changed: the classifier reads the exchanged feature off the swapped reconstruction "
                    "(last row: mean over swaps); recombination: an object assembled from five images; "
                    "ceiling: the classifier on clean test images.")
    other = [[key.removeprefix("vsa."), values[key]] for key in
             ("vsa.swap_acc.preserved", "vsa.swap_acc.full", "vsa.swap_acc.other_full", "vsa.latent.cos_shared",
              "vsa.latent.cos_changed", "vsa.scene.count_acc", "vsa.probe.diagonal", "vsa.probe.off_diagonal")
             if key in values]
    b.add_table(MEASURES, "Swap, count and latent measures", ["measure", "value"], other)
    confusion = tables.get("vsa.scene.count_confusion")
    if confusion:
        b.add_table(MEASURES, "Object count: confusion", ["true n", *(str(c) for c in range(6)), "6+"],
                    [[n + 2, *row] for n, row in enumerate(confusion) if any(row)],
                    "Rows: objects in the scene; columns: 8-connected components of the reconstruction.")
    probe = tables.get("vsa.probe.matrix")
    if probe:
        b.add_table(MEASURES, "Slot probe (chance-normalised accuracy)", ["slot", *FACTOR_NAMES],
                    [[FACTOR_NAMES[f], *row] for f, row in enumerate(probe)],
                    "Logistic regression from each slot μ_f to each factor; a dominant diagonal means each "
                    "slot holds its own feature.")


@report_section("vsa")
def vsa_figures(b: Builder, options: SectionOptions) -> None:
    """The logged loss terms, the exchange on test items (source, target, result) and training items."""
    from betavae.vsa import figures as VF

    if b.files.rows:
        b.add("Training", b.attempt("loss terms", lambda: VF.terms_figure(b.files.rows, b.fig_dir / "terms.png")),
              "Loss terms", "Each logged term (batch means over the logging window) against the step; "
                            "log_sigma is the mean log σ of the batch.")
    config = b.files.config
    if config is None:
        return
    stage = config.data.stage
    batch = b.attempt("training items", lambda: config.data.build("train").batch(range(4)))
    if batch is not None:
        b.add("Pictures", b.attempt("training items", lambda: VF.dataset_figure(
            *VF.dataset_pictures(stage, batch), b.fig_dir / "examples.png")),
            "Training items", f"The first items of the {config.data.kind} training stream.")
    if not b.files.has_weights:
        b.notes.append("weights.safetensors is missing (no checkpoint yet): the exchange figure is left out")
        return
    from betavae.vsa.evaluate import pictures
    from betavae.vsa.load import load_run

    b.say("decoding test items")
    loaded = b.attempt("loading the weights", lambda: load_run(b.run_dir, options.device))
    if loaded is None:
        return
    pics = b.attempt("decoding test items", lambda: pictures(*loaded))
    if pics is not None:
        b.add("Pictures", b.attempt("exchange figure", lambda: VF.exchange_figure(
            pics, b.fig_dir / "swap.png", stage)), "The exchange" if stage != "sd" else "Scenes",
            "Test items: the scene and its reconstruction from the sum of object vectors." if stage == "sd" else
            "Test items: source, target, and the decoded result of exchanging the feature vector named on "
            "the left (the result should equal the target).")


@index_section("vsa")
def vsa_grid(b: Builder, rows: list[dict[str, Any]]) -> None:
    """The source's table beside the measured labels: one line per row of spec §6 with evaluated runs."""
    from betavae.vsa.study import HEAD, source_row, summarise, table

    records, other = [], 0
    for r in rows:
        row = source_row(r["config"])
        if row is None or not r["eval"]:
            other += row is None
            continue
        last = read_metrics(b.run_dir / r["run"])
        records.append({**r["eval"], "row": row, "step": r["step"],
                        "log_sigma": last[-1].get("log_sigma") if last else None})
    lines = summarise(records)
    caption = ("reported: the source's label (by eye); measured: the majority of the runs' labels by the "
               "operational rule (vsa.good in eval.json; a run judged with an untrusted factor classifier has "
               "none, and a row whose majority is undecided by that reads 'no verdict'); numbers: mean ± sd over the row's runs; swap/scene "
               "IoU: the swapped reconstruction (PD) or the crosswise scenes (PSD); log σ: the last logged "
               "training batch's.")
    if other:
        caption += f" {other} run(s) have settings the source did not try and are left out."
    b.add_table("The source's grid", "Good/Bad by row (spec §6)", list(HEAD), table(lines), caption)
