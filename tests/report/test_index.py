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
