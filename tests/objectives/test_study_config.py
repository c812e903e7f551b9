"""The shipped correlated-dSprites study compares every method at every strength and seed."""

from __future__ import annotations

from pathlib import Path

from betavae.experiments.sweep import load_sweep

STUDY = Path(__file__).parents[2] / "src/betavae/configs/sweep_correlated_study.yaml"


def test_correlated_study_expands_to_every_method_strength_and_seed():
    sweep = load_sweep(STUDY)
    runs = sweep.expand()
    kinds = {"beta", "capacity", "per_latent", "learned", "betatcvae", "factorvae"}
    cells = {(r.config.objective.kind, r.config.data.pairs[0].strength, r.config.seed) for r in runs}
    seeds = {r.config.seed for r in runs}
    assert len(seeds) >= 2 and len(runs) == len(cells) == len(kinds) * 2 * len(seeds)
    assert {k for k, _, _ in cells} == kinds
    assert {s for _, s, _ in cells} == {2.5, 5.0}
    assert all(r.config.data.kind == "dsprites_correlated" for r in runs)
    assert all(r.config.data.pairs[0].factors == ("posX", "posY") for r in runs)
    assert set(sweep.spec.evaluate.metrics) >= {"mig", "dci", "factor_vae"}
