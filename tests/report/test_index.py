"""The multi-run index: one row per run, links, metric-against-β plot, trade-off plot."""

from __future__ import annotations

import re

import pytest

from betavae.errors import BetavaeError
from betavae.experiments.rundir import read_metrics
from betavae.report import write_index
from betavae.report.index import plotted_hypers

from .test_report import parse


def table_rows(html: str, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_index_has_a_row_per_run_with_links_and_figures(runs_folder):
    page = runs_folder / "index.html"
    html = page.read_text()
    runs = sorted(p for p in runs_folder.iterdir() if (p / "config.yaml").is_file())
    rows = table_rows(html, "runs-table")
    assert len(runs) == 3 and len(rows) == 3
    for run, row in zip(runs, rows, strict=True):
        assert f'<a href="{run.name}/report.html">{run.name}</a>' in row
        last = read_metrics(run)[-1]
        assert f">{last['recon']:.5g}<" in row and f">{last['kl']:.5g}<" in row
    betas = sorted(float(re.findall(r'data-sort="([^"]+)"', r)[2]) for r in rows)  # run, seed, β
    assert betas == [1.0, 4.0, 4.0]
    assert sorted(re.findall(r">(0\.[123])<", html)) == ["0.1", "0.2", "0.3"]  # mig from eval.json
    tags = parse(page)
    assert set(tags.imgs) == {"index/metrics_vs_beta.png", "index/tradeoff.png"}
    for src in tags.imgs + tags.links:
        assert (runs_folder / src).is_file() and (runs_folder / src).stat().st_size <= 300_000
    md = (runs_folder / "index.md").read_text()
    assert md.count("/report.html)") == 3 and "![Metrics against β](index/metrics_vs_beta.png)" in md
    assert "rate–distortion" not in html  # mig exists, so the trade-off uses it


def test_index_without_eval_uses_the_rate_and_says_so(runs_folder, tmp_path):
    import shutil

    for run in [p for p in runs_folder.iterdir() if (p / "config.yaml").is_file()][:2]:
        shutil.copytree(run, tmp_path / run.name, ignore=shutil.ignore_patterns("eval.json", "report*"))
    html = write_index(tmp_path).read_text()
    assert "reconstruction against the KL (rate–distortion)" in html
    assert len(table_rows(html, "runs-table")) == 2 and "report.html" not in html  # no run reports yet


def test_plotted_hyper_parameters():
    beta = [{"hyper": {"beta": 1.0}}, {"hyper": {"beta": 4.0}}]
    cap = [{"hyper": {"gamma": 100.0, "capacity": 10.0}}, {"hyper": {"gamma": 100.0, "capacity": 25.0}}]
    assert plotted_hypers(beta) == ["beta"]
    assert plotted_hypers(cap) == ["capacity"]  # γ is fixed, C_max varies
    # A lone capacity run among β runs: a figure against γ would be one point per panel, so none
    # (it is in the table and the trade-off plot); two such runs (seeds) at the same γ do get one.
    assert plotted_hypers(beta + cap[:1]) == ["beta"]
    assert plotted_hypers(beta + cap[:1] + cap[:1]) == ["beta", "gamma"]
    assert plotted_hypers(beta[:1] + cap[:1]) == []  # one β-VAE run and one capacity run
    assert plotted_hypers([{"hyper": {}}]) == []


def test_index_of_a_folder_without_runs_is_a_clear_error(tmp_path):
    with pytest.raises(BetavaeError, match="holds no run folders"):
        write_index(tmp_path)


def mixed_rows() -> list[dict]:
    """Run summaries of a mixed set: β-VAE runs (β = 1, 4; eval with MIG and DCI) and capacity runs
    (C_max = 10, 25 at γ = 100; eval with MIG and SAP), one β run without eval.json."""
    def row(run, hyper, seed, recon, ev):
        return {"run": run, "hyper": hyper, "seed": seed, "recon": recon, "kl": recon / 100, "loss": recon + 1,
                "active": 3, "eval": ev}
    return [row("b1", {"beta": 1.0}, 0, 50.0, {"mig": 0.1, "dci.disentanglement": 0.2}),
            row("b4", {"beta": 4.0}, 0, 60.0, {"mig": 0.3, "dci.disentanglement": 0.4}),
            row("b4s1", {"beta": 4.0}, 1, 61.0, {}),
            row("c10", {"gamma": 100.0, "capacity": 10.0}, 0, 55.0, {"mig": 0.05, "sap": 0.01}),
            row("c25", {"gamma": 100.0, "capacity": 25.0}, 0, 52.0, {"mig": 0.15, "sap": 0.02})]


def panels(fig) -> dict[str, tuple[list[float], list[float]]]:
    """Visible panels of a metrics-against-hyper-parameter figure: y label -> (x, y) of the points."""
    out = {}
    for ax in fig.axes:
        if ax.axison:
            xy = [tuple(o) for c in ax.collections for o in c.get_offsets()]
            out[ax.get_ylabel()] = ([x for x, _ in sorted(xy)], [y for _, y in sorted(xy)])
    return out


def test_metrics_figures_of_a_mixed_set_draw_only_the_panels_with_values():
    import matplotlib.pyplot as plt

    from betavae.report.index import BASE_METRICS, hyper_points
    from betavae.viz.sweep import metrics_vs_hyper_figure

    rows = mixed_rows()
    assert plotted_hypers(rows) == ["beta", "capacity"]  # γ is the same for both capacity runs
    metrics = [*BASE_METRICS, ("mig", "mig"), ("dci.disentanglement", "dci"), ("sap", "sap"),
               ("factor_vae.eval_accuracy", "factor")]  # the last: no run has it
    base = [label for _, label in BASE_METRICS]
    for name, expected in [("beta", {*base, "mig", "dci"}), ("capacity", {*base, "mig", "sap"})]:
        fig = metrics_vs_hyper_figure(hyper_points(rows, name), metrics, name)
        try:
            got = panels(fig)
            assert set(got) == expected and len(got) == 6  # of 8 quantities, 6 apply to each sweep
            assert not any("no values" in t.get_text() for ax in fig.axes for t in ax.texts)
        finally:
            plt.close(fig)
        if name == "beta":
            assert got["mig"] == ([1.0, 4.0], [0.1, 0.3])  # the run without eval.json has no point
            assert got[BASE_METRICS[0][1]] == ([1.0, 4.0, 4.0], [50.0, 60.0, 61.0])
        else:
            assert got["sap"] == ([10.0, 25.0], [0.01, 0.02])


def test_tradeoff_keeps_runs_without_the_colouring_hyper_parameter():
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    from betavae.viz.sweep import GREY, tradeoff_figure

    rows = [r for r in mixed_rows() if "mig" in r["eval"]]
    points = [{**r, **r["eval"], "x": r["hyper"].get("beta")} for r in rows]
    fig = tradeoff_figure(points, "mig", "mig", "β")
    try:
        ax = fig.axes[0]
        xy = sorted(tuple(o) for c in ax.collections for o in c.get_offsets())
        assert xy == sorted((r["recon"], r["eval"]["mig"]) for r in rows)  # all 4, capacity runs too
        faces = [tuple(f) for c in ax.collections for f in c.get_facecolors()]
        assert faces.count(mcolors.to_rgba(GREY)) == 2  # the two capacity runs have no β
        assert sorted(t.get_text() for t in ax.texts) == ["b1", "b4", "c10", "c25"]
    finally:
        plt.close(fig)


def test_informative_latents_stand_beside_active_ones(runs_folder, tmp_path):
    """A run scored with `bvae eval`'s posterior metric shows its informative latents right after
    the KL-based active count; runs without it leave the cell empty."""
    import json
    import shutil

    runs = sorted(p for p in runs_folder.iterdir() if (p / "config.yaml").is_file())[:2]
    for run in runs:
        shutil.copytree(run, tmp_path / run.name, ignore=shutil.ignore_patterns("report*"))
    eval_file = tmp_path / runs[0].name / "eval.json"
    record = json.loads(eval_file.read_text())
    record["values"]["posterior.informative_latents"] = 3.0
    eval_file.write_text(json.dumps(record))
    html = write_index(tmp_path).read_text()
    head = re.search(r'<table id="runs-table".*?<thead>(.*?)</thead>', html, re.S).group(1)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", head)
    assert headers[headers.index("active") + 1] == "info"
    rows = table_rows(html, "runs-table")
    assert 'data-sort="3.0"' in rows[0] and rows[1].count("<td") == rows[0].count("<td")
