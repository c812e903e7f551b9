"""docs/studies/crossmodal_findings.py: Table 2's paired differences and the listener table at known points."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "studies" / "crossmodal_findings.py"
spec = importlib.util.spec_from_file_location("crossmodal_findings", SCRIPT)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)


def _row(strategy, seed, acc, variant="separate", protocol="symbol", **words):
    return {"seed": seed, "protocol": protocol, "held_out": None, "variant": variant, "strategy": strategy,
            "epochs": 70, "values": {"test_acc_sampled": acc, **words}}


def test_table2_differences_are_paired_by_seed():
    """Strategy 6 is exactly 2 points above strategy 2 on every seed although the seeds spread by
    10 points: the paired difference is 2.00 with a zero-width interval."""
    rows = [_row(2, s, 80.0 + 10 * s) for s in range(3)] + [_row(6, s, 82.0 + 10 * s) for s in range(3)]
    text = "\n".join(mod.table2(rows))
    assert "| 6 | 0.070 | 92.00 [67.16, 116.84] | 2.00 [2.00, 2.00] | — |" in text
    assert "| 2 | 0.200 | 90.00 [65.16, 114.84] | — | -2.00 [-2.00, -2.00] |" in text


def test_listener_table_averages_the_real_audio_words():
    words = {"words_real_audio.object": 10.0, "words_real_audio.action": 50.0, "words_real_audio.pair": 0.0}
    rows = [_row(6, s, 0.0, **{k: v + 2 * s for k, v in words.items()}) for s in range(3)]
    assert "| symbol | 3 | 12.0 ± 2.0 | 52.0 ± 2.0 | 2.0 ± 2.0 |" in mod.listener(rows)


def test_table2_of_a_partial_sweep_says_what_has_not_run():
    """Strategies 1 and 6 without #2: the column against #2 says so; seed 2 of #1 missing pairs 0 and 1 only."""
    rows = [_row(1, s, 85.0 + s) for s in range(2)] + [_row(6, s, 84.0 + 2 * s) for s in range(3)]
    text = "\n".join(mod.table2(rows))
    assert "| 1 | 0.050 | 85.50 [79.15, 91.85] | not run | 0.50 [-5.85, 6.85] |" in text


def test_distances_are_paired_against_the_mean_control():
    values = [{"translation.cos_dist": 10.0 + s, "controls.mean.cos_dist": 12.0 + s,
               "controls.linear.cos_dist": 1.0} for s in range(3)]
    study = [_row(6, s, 0.0, **values[s]) for s in range(3)]
    text = "\n".join(mod.distances(study, []))
    assert "| symbol | k-means | 3 | 11.00 [8.52, 13.48] | 13.00 [10.52, 15.48] | 1.00 [1.00, 1.00] | -2.00 [-2.00, -2.00] |" in text


def test_versions_pair_the_same_runs_and_ignore_the_rest():
    """Three runs in both folders, each 1 point better after, and one run only after: the
    difference is +1.00 with a zero-width interval over the three shared runs."""
    keys = dict.fromkeys(mod.VERSION_KEYS, 0.0)

    def run(name, acc):
        return {"run": name, "values": {**keys, "test_acc_sampled": acc}}

    before = [run(f"r{s}", 90.0 + s) for s in range(3)]
    after = [run(f"r{s}", 91.0 + s) for s in range(3)] + [run("only-after", 10.0)]
    text = "\n".join(mod.versions(before, after))
    assert "3 runs in both folders" in text
    assert "| test_acc_sampled | 91.00 [88.52, 93.48] | 92.00 [89.52, 94.48] | 1.00 [1.00, 1.00] |" in text
    assert mod.versions(before, [run("x", 1.0)])[-2] == "No run is in both folders."


def test_paired_uses_only_the_seeds_both_strategies_have():
    by_strategy = {1: {0: 90.0, 1: 91.5, 2: 93.0}, 6: {0: 89.0, 2: 92.5}}
    assert mod.paired(by_strategy, 1, 6) == [1.0, 0.5]
    assert mod.paired(by_strategy, 1, 2) == []


def test_table2_figure_is_drawn_only_with_the_reference_strategy(tmp_path):
    """A PNG when #6 has run (one panel per variant); None when it has not."""
    rows = [_row(k, s, 90.0 + k + 0.1 * s, variant=v) for v in ("joint", "separate") for k in (2, 6) for s in range(3)]
    out = mod.table2_figure(rows, tmp_path / "table2.png")
    assert out == tmp_path / "table2.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mod.table2_figure([r for r in rows if r["strategy"] == 2], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_rank_agreement_with_the_thesis_at_known_orders():
    """The thesis's own test accuracies give ρ = 1; their negatives ρ = −1; the sentence appears
    only once all nine strategies have run."""
    thesis = {k: v[2] for k, v in mod.THESIS_T2.items()}
    same = {k: {0: acc, 1: acc + 0.5} for k, acc in thesis.items()}
    assert mod.rank_agreement(same)[0] == 1.0
    assert mod.rank_agreement({k: {0: -acc} for k, acc in thesis.items()}, leave_out=(2,))[0] == -1.0
    rows = [_row(k, s, acc) for k, seeds in same.items() for s, acc in seeds.items()]
    assert "Spearman ρ = 1.00 (p = 0.000, 9 strategies)" in "\n".join(mod.table2(rows))
    assert "Spearman" not in "\n".join(mod.table2([r for r in rows if r["strategy"] != 9]))


def test_last_beta_is_each_formula_at_the_last_epoch():
    """70 epochs end at epoch 69: #9 = 0.07·(1 − e^−6.9), #6 capped at 0.07, #2 at 0.2; 10 epochs
    end at epoch 9: #6 = 0.0225."""
    beta = mod.last_beta([_row(k, 0, 0.0) for k in (2, 6, 9)])
    assert beta[2] == 0.2 and beta[6] == 0.07
    assert abs(beta[9] - 0.07 * (1 - math.exp(-6.9))) < 1e-15
    assert mod.last_beta([{**_row(6, 0, 0.0), "epochs": 10}])[6] == 0.0025 * 9


def test_variants_table_pairs_each_run_with_its_own_control():
    """Two joint runs 60 below their controls (distances 5 and 7 against 65 and 67), one separate
    run 1 above; compositional rows are left out."""
    def values(t, c, pair=0.0):
        return {"translation.cos_dist": t, "controls.mean.cos_dist": c, "words.pair": pair}
    rows = [_row(1, 0, 0.0, variant="joint", **values(5.0, 65.0)), _row(2, 0, 0.0, variant="joint", **values(7.0, 67.0, 2.0)),
            _row(6, 0, 0.0, **values(66.0, 65.0)), _row(6, 0, 0.0, protocol="compositional", **values(0.0, 99.0))]
    text = "\n".join(mod.variants(rows))
    assert "| joint | 2 | 6.00 [-6.71, 18.71] | 66.00 [53.29, 78.71] | -60.00 [-60.00, -60.00] | 1.0 [-11.7, 13.7] |" in text
    assert "| separate | 1 | 66.00 | 65.00 | 1.00 | 0.0 |" in text


def test_table4_pairs_each_run_with_its_control_and_counts_the_baseline_once_per_seed():
    """Held-out pen (thesis 1.90) and fork (6.01): `joint` 50 below its control on every seed, the
    raw baseline 1 below its own, read once per (object, seed) although both variants carry it;
    the 'all' rows pool the objects and average the thesis's distances ((1.90 + 6.01)/2)."""
    def run(variant, held_out, seed, t, c):
        values = {"translation.cos_dist": t, "controls.mean.cos_dist": c, "words.pair": 0.0,
                  "baseline.translation.cos_dist": 20.0 + seed, "baseline.mean_control.cos_dist": 21.0 + seed,
                  "baseline.words.pair": 0.0}
        return {**_row(6, seed, 0.0, variant=variant, protocol="compositional", **values), "held_out": held_out}

    rows = [run("joint", obj, s, 10.0 + s, 60.0 + s) for obj in ("fork", "pen") for s in range(2)]
    rows += [run("separate", "pen", s, 40.0, 40.0) for s in range(2)] + [_row(6, 0, 0.0)]
    text = "\n".join(mod.table4(rows))
    lines = text.splitlines()
    assert [line.split(" | ")[0] for line in lines if line.startswith("| pen") or line.startswith("| fork")] == \
        ["| pen"] * 3 + ["| fork"] * 2, "objects in the thesis's order, each variant then the baseline"
    assert "| pen | `joint` + S2S | 2 | 10.50 [4.15, 16.85] | -50.00 [-50.00, -50.00] | 0.0 [0.0, 0.0] | 1.90 |" in text
    assert "| pen | raw Seq2Seq | 2 | 20.50 [14.15, 26.85] | -1.00 [-1.00, -1.00] | 0.0 [0.0, 0.0] |  |" in text
    assert "| all | `joint` + S2S | 4 | 10.50 [9.58, 11.42] | -50.00 [-50.00, -50.00] | 0.0 [0.0, 0.0] | 3.96 |" in text
    assert "| all | raw Seq2Seq | 4 |" in text
    assert mod.table4([_row(6, 0, 0.0)]) == []


def test_tokens_compare_the_same_splits_paired_by_object_and_seed():
    """k-means has held-out pen and fork (seeds 0, 1), phonemes pen only: the compositional rows use
    pen's two seeds; phonemes hear 10 + seed points more of the real pairs on each (paired: 10.5,
    interval ±6.4), and each translation is 1 above its own mean control (difference 0)."""
    def run(held_out, seed, real_pair):
        values = {"words_real_audio.object": 0.0, "words_real_audio.action": 0.0, "words_real_audio.pair": real_pair,
                  "words_audio_autoencoded.pair": 0.0, "words.object": 0.0, "words.action": 0.0, "words.pair": 0.0,
                  "translation.cos_dist": 41.0, "controls.mean.cos_dist": 40.0, "controls.linear.cos_dist": 40.0}
        return {**_row(6, seed, 0.0, protocol="compositional", **values), "held_out": held_out}

    study = [run(obj, s, 1.0) for obj in ("pen", "fork") for s in range(2)]
    phonemes = [run("pen", s, 11.0 + s) for s in range(2)]
    assert mod.shared_splits(study, phonemes, "compositional") == {("pen", 0), ("pen", 1)}
    text = "\n".join(mod.tokens(study, phonemes))
    assert "| compositional | k-means | 2 | 0.0 [0.0, 0.0] / 0.0 [0.0, 0.0] / 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] / 0.0 [0.0, 0.0] / 1.0 [1.0, 1.0] |" in text
    assert "| compositional | 2 | 10.5 [4.1, 16.9] | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] | 0.00 [0.00, 0.00] |" in text
    assert "| symbol |" not in text, "no symbol runs: no symbol rows"
    assert not [line for line in mod.token_differences(study, []) if line.startswith("| compositional")], \
        "without phoneme runs there is nothing to pair"


def test_table4_figure_is_drawn_only_with_compositional_runs(tmp_path):
    values = {"translation.cos_dist": 5.0, "controls.mean.cos_dist": 60.0, "words.pair": 0.0,
              "baseline.translation.cos_dist": 20.0, "baseline.mean_control.cos_dist": 20.0, "baseline.words.pair": 0.0}
    rows = [{**_row(6, s, 0.0, variant=v, protocol="compositional", **values), "held_out": obj}
            for v in ("joint", "separate") for obj in ("pen", "fork") for s in range(2)]
    models = mod.table4_models([r for r in rows if r["held_out"] == "pen"])
    assert [(name, len(got)) for name, got, _ in models] == [("`joint` + S2S", 2), ("`separate` + S2S", 2), ("raw Seq2Seq", 2)]
    out = mod.table4_figure(rows, tmp_path / "table4.png")
    assert out == tmp_path / "table4.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mod.table4_figure([_row(6, 0, 0.0)], tmp_path / "none.png") is None
