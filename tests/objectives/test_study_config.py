"""The shipped correlated-dSprites study compares every method at every strength and seed."""

from __future__ import annotations

from pathlib import Path

from betavae.experiments.sweep import load_sweep

STUDY = Path(__file__).parents[2] / "src/betavae/configs/sweep_correlated_study.yaml"


def test_correlated_study_expands_to_every_method_strength_and_seed():
    """The redesigned study (#22): 7 arms x (2 strengths + the independent case) x seeds."""
    sweep = load_sweep(STUDY)
    runs = sweep.expand()
    kinds = {"beta", "capacity", "per_latent", "pairwise", "learned", "betatcvae", "factorvae"}

    def strength(r):
        return r.config.data.pairs[0].strength if r.config.data.kind == "dsprites_correlated" else 0.0

    cells = {(r.config.objective.kind, strength(r), r.config.seed) for r in runs}
    seeds = {r.config.seed for r in runs}
    assert len(seeds) >= 2 and len(runs) == len(cells) == len(kinds) * 3 * len(seeds)
    assert {k for k, _, _ in cells} == kinds
    assert {s for _, s, _ in cells} == {0.0, 2.5, 5.0}
    assert all(r.config.data.pairs[0].factors == ("posX", "posY") for r in runs
               if r.config.data.kind == "dsprites_correlated")
    assert set(sweep.spec.evaluate.metrics) >= {"mig", "dci"} and sweep.spec.evaluate.breakdown
