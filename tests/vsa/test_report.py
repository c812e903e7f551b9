"""A vsa run's report (the vsa sections: measures tables and pictures) and a vsa sweep's index
(the Good/Bad table), on disk and in headless Chromium (skips without it, as tests/report does)."""

from __future__ import annotations

import json

import pytest

from betavae.experiments.run import train
from betavae.report import write_report

from ..report.test_browser import LOCAL_SCHEMES, browser, console_errors, visit  # noqa: F401 (fixture)
from ..report.test_report import parse
from .conftest import TINY_EVAL


@pytest.fixture(scope="module")
def evaluated_runs(tmp_path_factory):
    """A PD and an SD run (2 steps), each evaluated and reported."""
    from betavae.config import build_config
    from betavae.vsa.evaluate import evaluate_run

    from .conftest import tiny_tree

    root = tmp_path_factory.mktemp("vsa-runs")
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETAVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        for stage in ("pd", "sd"):
            run = train(build_config(tiny_tree(stage, steps=2)), root)
            evaluate_run(run, TINY_EVAL)
            write_report(run)
            runs[stage] = run
    return runs


def section_tables(html: str) -> dict[str, list[list[str]]]:
    """Title -> body rows (cell texts) of each section table of a report page."""
    import re

    out = {}
    for title, body in re.findall(r"<h3>([^<]+)</h3>\s*<div class=\"scroll\"><table class=\"sortable section-table\">"
                                  r".*?<tbody>(.*?)</tbody>", html, flags=re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
        out[title] = [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)]
                      for r in rows]
    return out


def test_a_pd_report_shows_the_measures_of_eval_json_and_the_pictures(evaluated_runs):
    run = evaluated_runs["pd"]
    values = json.loads((run / "eval.json").read_text())["values"]
    html = (run / "report.html").read_text()
    tables = section_tables(html)
    assert values["vsa.classifier.trusted"] is False and "vsa.good" not in values  # the tiny classifier
    assert tables["Good/Bad"][0][0] == "no verdict: the factor classifier is not trusted"
    assert tables["Good/Bad"][0][1] == "swap IoU ≥ 0.8 and changed accuracy ≥ 0.8"
    recon = {r[0]: r[1:] for r in tables["Reconstruction"]}
    assert recon["swapped (PD)"] == [f"{values['vsa.swap.bce']:.5g}", f"{values['vsa.swap.iou']:.5g}"]
    assert set(recon) == {"direct (unswapped, PD)", "swapped (PD)"}
    per = {r[0]: r[1:] for r in tables["Per feature"]}
    assert per["all five / mean"][0] == f"{values['vsa.swap_acc.changed']:.5g}"
    assert per["shape"][2] == f"{values['vsa.classifier.shape']:.5g}"
    assert "Object count: confusion" not in tables  # a PD run has no scenes
    imgs = parse(run / "report.html").imgs
    assert {"report/terms.png", "report/examples.png", "report/swap.png"} <= set(imgs)
    assert all((run / src).stat().st_size > 0 for src in imgs)
    assert "could not be drawn" not in html and "no vsa measures yet" not in html
    md = (run / "report.md").read_text()
    assert "### Reconstruction" in md and "![The exchange](report/swap.png)" in md


def test_an_sd_report_shows_the_count_confusion_and_the_scenes(evaluated_runs):
    run = evaluated_runs["sd"]
    stored = json.loads((run / "eval.json").read_text())
    tables = section_tables((run / "report.html").read_text())
    confusion = tables["Object count: confusion"]
    expected = [[str(n + 2), *map(str, row)] for n, row in enumerate(stored["tables"]["vsa.scene.count_confusion"])
                if any(row)]
    assert confusion == expected and sum(int(c) for r in confusion for c in r[1:]) == TINY_EVAL.n_items
    assert "Good/Bad" not in tables  # no rule for scenes
    assert "![Scenes](report/swap.png)" in (run / "report.md").read_text()


def test_a_report_before_evaluation_says_how_to_get_the_measures(tmp_path):
    from betavae.config import build_config

    from .conftest import tiny_tree

    run = train(build_config(tiny_tree("psd", steps=1, report=True)), tmp_path)
    html = (run / "report.html").read_text()
    assert "no vsa measures yet: `bvae eval RUN` writes eval.json" in html.replace("&#96;", "`")
    assert {"report/terms.png", "report/examples.png", "report/swap.png"} <= set(parse(run / "report.html").imgs)


@pytest.fixture(scope="module")
def grid_folder(tiny_grid_run):
    """The session's tiny grid (rows 14 and 16, seeds 0 and 1), with its index."""
    root, first = tiny_grid_run
    assert first.statuses == {"finished": 4}
    return root


def test_a_vsa_run_report_in_chromium(browser, evaluated_runs):  # noqa: F811 (fixture)
    state, urls, session = visit(browser, evaluated_runs["pd"] / "report.html", "vsa-report.png")
    assert len(state["images"]) >= 4
    for img in state["images"]:
        assert img["width"] > 0 and img["height"] > 0, f"{img['src']} did not load"
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls
    assert console_errors(browser, session) == []


def test_the_vsa_sweep_index_in_chromium(browser, grid_folder):  # noqa: F811 (fixture)
    state, urls, session = visit(browser, grid_folder / "index.html", "vsa-index.png")
    assert state["images"] == []  # the hyper-parameter and trade-off figures are the image VAEs'
    assert state["runs"].count("\n") == 4  # header + 4 runs
    grid = browser.send("Runtime.evaluate", {"expression": """Array.from(document.querySelectorAll(
        "table.section-table tbody tr")).map(r => Array.from(r.cells).map(c => c.innerText))""",
                                             "returnByValue": True}, session=session)["result"]["value"]
    assert [r[0] for r in grid] == ["14", "16"] and all(r[6] == "Good" for r in grid)
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls
    assert console_errors(browser, session) == []
