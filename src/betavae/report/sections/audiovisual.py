"""The cross-modal runs' report sections: training curves per epoch, and the run's measures
(``eval.json`` of the ``audiovisual`` evaluator) as rows of the thesis's Tables 2-4."""

from __future__ import annotations

from typing import TYPE_CHECKING

from betavae.report.sections import SectionOptions, index_section, report_section

if TYPE_CHECKING:
    from betavae.report.build import Builder


@report_section("audiovisual")
def curves(b: Builder, options: SectionOptions) -> None:
    """Accuracy, KLs against the capacity, and loss with β, per epoch (from metrics.jsonl)."""
    from betavae.viz.crossmodal import plot_crossmodal_curves

    if not b.files.rows:
        return
    b.add("Training", b.attempt("curves", lambda: plot_crossmodal_curves(b.files.rows, b.fig_dir / "curves.png")),
          "Training curves", "Per epoch: train accuracy (training mode, sampled z) and validation accuracy (eval "
          "mode, sampled z) as 100·½(cos_v + cos_a); KL_v and KL_a per latent dimension against the capacity "
          "C(e) they are pulled to; the total loss with the β strategy's β(e) on the right axis.")


@report_section("audiovisual")
def measures(b: Builder, options: SectionOptions) -> None:
    """The run's eval.json as the study's table rows, beside the thesis's numbers."""
    from betavae.crossmodal.tables import run_tables

    if b.files.config is None or not b.files.eval_values:
        if b.files.config is not None:
            b.notes.append("no eval.json yet: measure the run with `bvae eval RUN` for its translation tables")
        return
    for table in run_tables(b.files.config, b.files.eval_values):
        b.add_table("Cross-modal measures", table["title"], table["columns"], table["rows"], table["caption"])


@index_section("audiovisual")
def study_tables(b: Builder, rows: list) -> None:
    """The thesis's Tables 2-4 over the sweep's runs (betavae.crossmodal.tables.index_tables)."""
    from betavae.crossmodal.tables import index_tables

    for t in index_tables(rows):
        b.add_table("Study tables", t["title"], t["columns"], t["rows"], t.get("caption", ""))
