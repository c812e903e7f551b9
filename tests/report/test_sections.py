"""Registered report sections (issue #19: one report pipeline): tables and figures a system adds,
escaped in HTML and Markdown; a failing section becomes a note, never an exception."""

from __future__ import annotations

import pytest

from betavae.config import build_config
from betavae.experiments.run import train
from betavae.report.build import write_report
from betavae.report.sections import _SECTIONS, report_section, sections_for

from ..conftest import tiny_tree


@pytest.fixture
def run_dir(tmp_path):
    return train(build_config(tiny_tree(steps=4, report=False)), tmp_path)


@pytest.fixture
def registered():
    added = []

    def register(fn):
        sections_for("image")  # the built-in sections first, as in a real report
        added.append(report_section("image")(fn))
        return fn

    yield register
    for fn in added:
        _SECTIONS["image"].remove(fn)


def test_a_registered_section_adds_an_escaped_table_to_both_pages(run_dir, registered):
    @registered
    def measures(b, options):
        b.add_table("Measures", "Per modality", ["measure", "value"], [["<script>x</script>", 0.25], ["b|c", 3]],
                    "SME & LoP")

    write_report(run_dir)
    html = (run_dir / "report.html").read_text()
    assert '<h2 id="measures">Measures</h2>' in html and "<script>x" not in html and "&lt;script&gt;x" in html
    assert html.index('id="posterior"') < html.index('id="measures"')  # after the built-in sections
    md = (run_dir / "report.md").read_text()
    assert "| measure | value | \n| --- | --- |\n| &lt;script&gt;x&lt;/script&gt; | 0.25 | \n| b\\|c | 3 | " in md


def test_a_failing_section_is_a_note_and_the_rest_is_drawn(run_dir, registered):
    @registered
    def broken(b, options):
        raise ValueError("no such measure")

    write_report(run_dir)
    html = (run_dir / "report.html").read_text()
    assert "the broken section could not be drawn (ValueError: no such measure)" in html
    assert (run_dir / "report" / "posterior.png").is_file()
