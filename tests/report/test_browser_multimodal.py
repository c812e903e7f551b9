"""A multimodal study's pages in headless Chromium (issue #19): a run's report (its registered
sections) and the study sweep's index (the findings over schedules): every image loaded, no
console error, no request off the machine. Skips without Chromium like test_browser.py."""

from __future__ import annotations

import pytest

from ..experiments.test_sweep_multimodal import mm_sweep
from .test_browser import LOCAL_SCHEMES, browser, console_errors, visit  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory):
    """2 schedules x 1 seed, 4 epochs, evaluated and reported, with the sweep's index."""
    from betavae.experiments.executors import make_executor
    from betavae.experiments.study import run_sweep

    out = tmp_path_factory.mktemp("mm_study")
    sweep = mm_sweep(report=True, seeds=[0])
    with make_executor("local", 1, 1) as ex:
        assert run_sweep(sweep, ex, out).statuses == {"finished": 2}
    return out


def loaded(state: dict) -> None:
    assert state["images"] and all(i["width"] > 0 and i["height"] > 0 for i in state["images"]), state["images"]


def test_multimodal_run_report_in_chromium(browser, study_folder):  # noqa: F811
    run = next(p for p in sorted(study_folder.iterdir()) if (p / "report.html").is_file())
    state, urls, session = visit(browser, run / "report.html", "report-multimodal.png")
    loaded(state)
    srcs = [i["src"] for i in state["images"]]
    assert {f"report/mm_{n}.png" for n in ("training", "measure_curves", "baseline", "measures")} <= set(srcs)
    assert "prediction_error" in state["eval"] and "protocol.vision_only.nrmse_muted.joints" in state["eval"]
    assert console_errors(browser, session) == []
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls


def test_multimodal_study_index_in_chromium(browser, study_folder):  # noqa: F811
    state, urls, session = visit(browser, study_folder / "index.html", "index-multimodal.png")
    loaded(state)
    assert [i["src"] for i in state["images"]] == [f"index/mm_{n}.png" for n in
                                                   ("training", "baseline", "measures", "measure_curves")]
    assert state["runs"].count("\n") == 2  # header + 2 runs
    text = browser.send("Runtime.evaluate", {"expression": "document.body.innerText", "returnByValue": True},
                        session=session)["result"]["value"]
    assert "final window (epochs 3.5–4): training terms and baseline" in text
    assert "const1" in text and "const0" in text and "Test protocols after training: normalised RMSE" in text
    assert console_errors(browser, session) == []
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls
