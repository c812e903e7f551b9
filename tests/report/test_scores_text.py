"""The terminal text of an evaluation (bvae eval / bvae zoo eval): known answers."""

import json

from betavae.report.scores_text import score_text, scores_text


def test_score_text_keeps_four_decimals_or_four_significant_digits():
    assert score_text(0.0) == "0.0000"
    assert score_text(0.12345) == "0.1235"
    assert score_text(0.0001234) == "0.0001234"
    assert score_text(2.5e7) == "2.5e+07"


def test_values_intervals_and_the_bootstrap_line():
    result = {"values": {"mig": 0.25, "note": "x"}, "intervals": {"mig": [0.2, 0.3]},
              "breakdown": {"mig.shape": 0.5},
              "bootstrap": {"method": "percentile", "confidence": 0.95, "n": 100}}
    lines = scores_text(result).splitlines()
    assert lines == [f"{'mig':48s} 0.2500  [0.2000, 0.3000]", f"{'note':48s} x", f"{'mig.shape':48s} 0.5000",
                     "intervals: percentile 95% over 100 bootstrap replicates"]
    assert json.loads(scores_text(result, "json")) == result
    assert scores_text({"values": {}}) == ""
