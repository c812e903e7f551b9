"""docs/studies/crossmodal_findings.py: Table 2's paired differences and the listener table at known points."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "studies" / "crossmodal_findings.py"
spec = importlib.util.spec_from_file_location("crossmodal_findings", SCRIPT)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)


def _row(strategy, seed, acc, variant="separate", protocol="symbol", **words):
    return {"seed": seed, "protocol": protocol, "variant": variant, "strategy": strategy,
            "values": {"test_acc_sampled": acc, **words}}


def test_table2_differences_are_paired_by_seed():
    """Strategy 6 is exactly 2 points above strategy 2 on every seed although the seeds spread by
    10 points: the paired difference is 2.00 with a zero-width interval."""
    rows = [_row(2, s, 80.0 + 10 * s) for s in range(3)] + [_row(6, s, 82.0 + 10 * s) for s in range(3)]
    text = "\n".join(mod.table2(rows))
    assert "| 6 | 92.00 [67.16, 116.84] | 2.00 [2.00, 2.00] | — |" in text
    assert "| 2 | 90.00 [65.16, 114.84] | — | -2.00 [-2.00, -2.00] |" in text


def test_listener_table_averages_the_real_audio_words():
    words = {"words_real_audio.object": 10.0, "words_real_audio.action": 50.0, "words_real_audio.pair": 0.0}
    rows = [_row(6, s, 0.0, **{k: v + 2 * s for k, v in words.items()}) for s in range(3)]
    assert "| symbol | 3 | 12.0 ± 2.0 | 52.0 ± 2.0 | 2.0 ± 2.0 |" in mod.listener(rows)
