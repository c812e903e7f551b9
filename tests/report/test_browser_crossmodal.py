"""The cross-modal reports in headless Chromium: a run's report and the study sweep's index
(Tables 2-4) load every image (naturalWidth > 0), request nothing off the machine and log no
console error. Skips like test_browser.py when Chromium is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_browser import ARTIFACTS, LOCAL_SCHEMES, PAGE_STATE, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser

TABLES = """Array.from(document.querySelectorAll("h3")).map(h => h.textContent)"""


@pytest.fixture(scope="module")
def study(browser, request):  # noqa: F811 (browser first: no sweep when Chromium is missing)
    out, first = request.getfixturevalue("tiny_crossmodal_study_run")
    assert first.statuses == {"finished": 6}
    return out


def open_logged(browser, page: Path, shot: str) -> tuple[dict, list[str], list[str], list[str]]:  # noqa: F811
    """Open ``page`` with the console and log domains on; returns (page state, requested URLs,
    console/log errors, section headings)."""
    session = browser.open_page()
    for domain in ("Page", "Network", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                        "mobile": False}, session=session)
    browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    browser.wait_event("Page.loadEventFired")

    def evaluate(expr: str):
        return browser.send("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                            session=session)["result"]["value"]

    state, headings = evaluate(PAGE_STATE), evaluate(TABLES)
    import base64

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / shot).write_bytes(base64.b64decode(
        browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]))
    mine = [ev for ev in browser.events if ev.get("sessionId") == session]
    urls = [ev["params"]["request"]["url"] for ev in mine if ev.get("method") == "Network.requestWillBeSent"]
    errors = [str(ev["params"]) for ev in mine
              if ev.get("method") == "Runtime.exceptionThrown"
              or (ev.get("method") == "Runtime.consoleAPICalled" and ev["params"].get("type") == "error")
              or (ev.get("method") == "Log.entryAdded" and ev["params"]["entry"].get("level") == "error")]
    return state, urls, errors, headings


def test_crossmodal_run_report_in_chromium(browser, study):  # noqa: F811
    run = next(p for p in sorted(study.iterdir()) if (p / "report.html").is_file())
    state, urls, errors, headings = open_logged(browser, run / "report.html", "report-crossmodal.png")
    assert [i["src"] for i in state["images"]] == ["report/curves.png"]
    assert all(i["width"] > 0 and i["height"] > 0 for i in state["images"])
    assert not errors, errors
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls
    assert "Reconstruction (Table 2's columns)" in headings and "Retrieval accuracy (spec §11b)" in headings
    assert any(h.startswith("Translation on the test rows") for h in headings)
    assert "test_acc_sampled" in state["eval"] and "words.pair" in state["eval"]


def test_crossmodal_study_index_in_chromium(browser, study):  # noqa: F811
    state, urls, errors, headings = open_logged(browser, study / "index.html", "index-crossmodal.png")
    assert all(i["width"] > 0 and i["height"] > 0 for i in state["images"])
    assert not errors, errors
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls
    assert state["runs"].count("\n") == 6  # header + one row per run
    for title in ("Table 2: β schedules, separate variant (symbol-grounding split)",
                  "Table 3: symbol grounding (held-out groups), strategy 6",
                  "Table 4: compositional generalisation, over the held-out objects",
                  "Table 4: held-out object 0 (pen)", "Retrieval accuracy (spec §11b)"):
        assert title in headings
