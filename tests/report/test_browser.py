"""The reports as a person sees them: loaded from disk in headless Chromium.

Asserts every image loaded (naturalWidth > 0), the tables hold the run's figures, escaped text
stayed text, and no request left the machine (only file:, data: and about: URLs). Screenshots go
to ``test-artifacts/`` at the repository root. Without Chromium the tests skip, unless ``CI`` is
set, where they fail (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from betavae.experiments.rundir import read_metrics

from .cdp import Browser, find_chromium
from .conftest import EVAL_KEYS, HOSTILE
from .test_report import parse

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LOCAL_SCHEMES = ("file:", "data:", "about:")

PAGE_STATE = """(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const text = id => { const t = document.getElementById(id); return t ? t.innerText : null; };
  return {images: imgs.map(i => ({src: i.getAttribute("src"), width: i.naturalWidth, height: i.naturalHeight})),
          summary: text("summary-table"), latents: text("latent-table"), eval: text("eval-table"),
          runs: text("runs-table"), pwned: typeof window.pwned !== "undefined", title: document.title};
})()"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("chromium is not installed but CI is set: .ci/run must install Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium); under CI this fails")
    tmp = tmp_path_factory.mktemp("chromium")
    with Browser(binary, tmp / "profile", tmp / "chromium.log") as b:
        yield b


def visit(browser: Browser, page: Path, shot: str, width: int = 1200) -> tuple[dict[str, Any], list[str], str]:
    """Open ``page`` (file://) in a new tab ``width`` CSS pixels wide; returns (page state,
    requested URLs, session)."""
    session = browser.open_page()
    browser.send("Page.enable", session=session)
    browser.send("Network.enable", session=session)
    browser.send("Runtime.enable", session=session)  # console messages and exceptions (console_errors)
    browser.send("Log.enable", session=session)  # the browser's own errors (a failed load, say)
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    browser.send("Emulation.setDeviceMetricsOverride", metrics, session=session)
    browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    browser.wait_event("Page.loadEventFired")
    state = browser.send("Runtime.evaluate", {"expression": PAGE_STATE, "awaitPromise": True,
                                              "returnByValue": True}, session=session)["result"]["value"]
    height = int(browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["height"])
    browser.send("Emulation.setDeviceMetricsOverride", {**metrics, "height": min(height, 16000)}, session=session)
    png = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / shot).write_bytes(png)
    assert Image.open(io.BytesIO(png)).size == (width, min(height, 16000))
    urls = [ev["params"]["request"]["url"] for ev in browser.events
            if ev.get("method") == "Network.requestWillBeSent" and ev.get("sessionId") == session]
    return state, urls, session


def console_errors(browser: Browser, session: str) -> list[str]:
    """Errors the page of ``session`` reported: uncaught exceptions, console.error, browser log errors."""
    out = []
    for ev in browser.events:
        if ev.get("sessionId") != session:
            continue
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            out.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            out.append(params["entry"].get("text", ""))
    return out


def test_run_report_in_chromium(browser, reported_run):
    state, urls, _ = visit(browser, reported_run / "report.html", "report.png")
    expected = parse(reported_run / "report.html").imgs
    assert [i["src"] for i in state["images"]] == expected and len(expected) == 9
    for img in state["images"]:
        assert img["width"] > 0 and img["height"] > 0, f"{img['src']} did not load"
    last = read_metrics(reported_run)[-1]
    for key in ("loss", "recon", "kl"):
        assert f"\t{last[key]:.5g}\tnats / image" in state["summary"], key
    assert state["latents"].count("\n") == len(last["kl_per_dim"])  # header + one row per latent
    assert "mig\t0.125" in state["eval"] and HOSTILE in state["eval"]  # shown as text ...
    assert state["pwned"] is False  # ... never run
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls
    assert any(u.endswith("/report/traverse.gif") for u in urls)


def test_index_in_chromium(browser, runs_folder):
    state, urls, session = visit(browser, runs_folder / "index.html", "index.png")
    assert len(state["images"]) == 2 and all(i["width"] > 0 for i in state["images"])
    assert state["runs"].count("\n") == 3
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls
    click_beta = """(() => { const t = document.getElementById("runs-table");
      const th = Array.from(t.tHead.rows[0].cells); const col = th.findIndex(c => c.textContent === "β");
      th[col].click(); return Array.from(t.tBodies[0].rows).map(r => parseFloat(r.cells[col].dataset.sort)); })()"""
    def click() -> list[float]:
        return browser.send("Runtime.evaluate", {"expression": click_beta, "returnByValue": True},
                            session=session)["result"]["value"]

    assert click() == [1.0, 4.0, 4.0] and click() == [4.0, 4.0, 1.0]  # ascending, then descending


HEADERS = """(() => { const t = document.getElementById(ID);
  return {innerWidth: window.innerWidth, pageWidth: document.documentElement.scrollWidth,
          cells: Array.from(t.tHead.rows[0].cells).map(c => { const r = c.getBoundingClientRect();
            return {text: c.textContent, left: r.left, right: r.right}; })}; })()"""


def test_index_of_mixed_runs_in_chromium(browser, mixed_runs_folder):
    """One β-VAE and one capacity run: only the trade-off figure applies (no hyper-parameter
    varies), and the compact table shows its key columns within a 1280 px window."""
    state, urls, session = visit(browser, mixed_runs_folder / "index.html", "index-mixed.png", width=1280)
    assert [i["src"] for i in state["images"]] == ["index/tradeoff.png"]
    assert all(i["width"] > 0 and i["height"] > 0 for i in state["images"])
    assert urls and all(u.startswith(LOCAL_SCHEMES) for u in urls), urls

    def headers(table: str) -> dict[str, Any]:
        expr = HEADERS.replace("ID", f'"{table}"')
        return browser.send("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                            session=session)["result"]["value"]

    main = headers("runs-table")
    assert main["innerWidth"] == 1280 and main["pageWidth"] <= 1280  # the page itself never scrolls sideways
    texts = [c["text"] for c in main["cells"]]
    assert texts == ["run", "status", "objective", "seed", "β", "γ", "C_max (nats)", "recon", "KL", "active",
                     "info", "MIG", "DCI D", "FactorVAE", "β-VAE", "SAP"]
    for cell in main["cells"]:  # every key column is on screen, MIG included
        assert 0 <= cell["left"] and cell["right"] <= main["innerWidth"], cell
    details = headers("details-table")
    shown = {c["text"] for c in details["cells"]}
    assert shown == {"run", "step", "loss"} | set(EVAL_KEYS) - {"mig", "dci.disentanglement", "sap",
                                                                "factor_vae.eval_accuracy", "beta_vae.eval_accuracy",
                                                                "posterior.informative_latents"}
    assert details["cells"][0]["right"] <= details["innerWidth"]
    assert state["runs"].count("\n") == 2 and "capacity" in state["runs"] and "beta" in state["runs"]
