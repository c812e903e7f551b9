"""Evaluation glue: eval.json of a run, user arrays from .npz, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from betavae.cli import main
from betavae.config import build_config
from betavae.errors import BetavaeError
from betavae.experiments.evaluate import evaluate_codes_file, evaluate_encoder, evaluate_run
from betavae.experiments.run import train

from ..conftest import tiny_tree


def grid_arrays(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    factors = rng.integers(0, [3, 6, 10, 8, 8], size=(n, 5))
    return factors.astype(np.float64) + 0.01 * rng.standard_normal((n, 5)), factors


def test_codes_file_identity_scores_high_and_random_low(tmp_path):
    codes, factors = grid_arrays()
    good = tmp_path / "good.npz"
    np.savez(good, codes=codes, factors=factors)
    res = evaluate_codes_file(good, ["mig", "modularity"], preset="fast")
    assert res["values"]["mig"] > 0.9 and res["values"]["modularity"] > 0.9
    saved = json.loads((tmp_path / "good.eval.json").read_text())
    assert saved["values"]["mig"] == pytest.approx(res["values"]["mig"])
    bad = tmp_path / "random.npz"
    np.savez(bad, codes=np.random.default_rng(1).standard_normal((2000, 5)), factors=factors)
    assert evaluate_codes_file(bad, ["mig"])["values"]["mig"] < 0.1


def test_codes_file_errors(tmp_path):
    with pytest.raises(BetavaeError, match="does not exist"):
        evaluate_codes_file(tmp_path / "nope.npz")
    missing = tmp_path / "missing.npz"
    np.savez(missing, codes=np.zeros((10, 2)))
    with pytest.raises(BetavaeError, match="no array 'factors'"):
        evaluate_codes_file(missing)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, codes=np.array([{"a": 1}], dtype=object), factors=np.zeros((1, 1)))
    with pytest.raises(BetavaeError, match="not a readable .npz"):
        evaluate_codes_file(pickled)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BetavaeError, match="not a readable .npz"):
        evaluate_codes_file(corrupt)
    codes, factors = grid_arrays(100)
    ok = tmp_path / "ok.npz"
    np.savez(ok, codes=codes, factors=factors)
    with pytest.raises(BetavaeError, match="need a data source"):
        evaluate_codes_file(ok, ["beta_vae"])
    with pytest.raises(BetavaeError, match="posterior need a data source and an encoder"):
        evaluate_codes_file(ok, ["posterior"])
    with pytest.raises(BetavaeError, match="unknown metric"):
        evaluate_codes_file(ok, ["migg"])


class IdentitySource:
    """Observations are the factor classes themselves (a perfect 'encoder' is the identity)."""

    factor_sizes = (3, 4, 5)

    def sample_factors_uniform(self, n, rng):
        return rng.integers(0, self.factor_sizes, size=(n, 3))

    def observations(self, factors):
        return np.asarray(factors, dtype=np.float64)


def test_evaluate_encoder_identity_gets_full_sampled_scores():
    res = evaluate_encoder(lambda x: x, IdentitySource(), ["mig", "beta_vae", "factor_vae"], preset="fast",
                           sizes={"num_train": 1000, "num_test": 500, "sampled_train": 200, "sampled_eval": 100})
    v = res["values"]
    assert v["mig"] > 0.9
    assert v["beta_vae.eval_accuracy"] > 0.9 and v["factor_vae.eval_accuracy"] > 0.9
    assert {"beta_vae", "factor_vae", "sampling"} <= res["seconds"].keys()
    with pytest.raises(BetavaeError, match="unknown evaluation size"):
        evaluate_encoder(lambda x: x, IdentitySource(), ["mig"], sizes={"num_trian": 3})


def test_posterior_scores_of_an_encoder_with_known_posterior():
    # μ = factors (3 latents), s² = 0.25 for every input: I⁺_j = ½ log((Var f_j + 0.25) / 0.25), offset ½ E[f_j]²
    def encoder(x):
        return x, np.full_like(x, np.log(0.25))

    res = evaluate_encoder(encoder, IdentitySource(), ["posterior"], preset="fast", seed=5,
                           sizes={"num_train": 4000})
    f = IdentitySource().sample_factors_uniform(4000, np.random.default_rng((5, 2))).astype(np.float64)
    v = res["values"]
    assert v["posterior.information"] == pytest.approx(float(np.sum(0.5 * np.log((f.var(0) + 0.25) / 0.25))))
    assert v["posterior.offset"] == pytest.approx(float(np.sum(0.5 * f.mean(0) ** 2)))
    assert v["posterior.kl"] == pytest.approx(float(np.mean(np.sum(0.5 * (f**2 + 0.25 - 1 - np.log(0.25)), 1))))
    assert v["posterior.active_units"] == 3 == v["posterior.informative_latents"]
    assert v["posterior.information_joint"] <= v["posterior.information"] + 1e-9
    # an encoder of codes only: skipped with a warning by default, an error when asked for
    res = evaluate_encoder(lambda x: x, IdentitySource(), None, preset="fast",
                           sizes={"num_train": 600, "num_test": 300, "sampled_train": 50, "sampled_eval": 25})
    assert not any(k.startswith("posterior.") for k in res["values"]) and "mig" in res["values"]
    assert any("posterior: skipped" in w for w in res["warnings"])
    with pytest.raises(BetavaeError, match="posterior needs an encoder that returns"):
        evaluate_encoder(lambda x: x, IdentitySource(), ["posterior"], preset="fast")


def test_evaluate_run_writes_eval_json_and_cli_prints(tmp_path, capsys):
    run = train(build_config(tiny_tree()), tmp_path)
    sizes = {"num_train": 600, "num_test": 300}
    res = evaluate_run(run, ["mig", "dci", "posterior"], preset="fast", sizes=sizes)
    saved = json.loads((run / "eval.json").read_text())
    assert saved["values"]["posterior.kl"] >= saved["values"]["posterior.information"] >= 0
    assert saved["step"] == 12 and saved["run"] == run.name and saved["seed"] == 0
    assert 0 <= saved["values"]["mig"] <= 1 and saved["values"] == pytest.approx(res["values"])
    assert "versions" in saved and "dci" in saved["seconds"]
    codes, factors = grid_arrays(500)
    np.savez(tmp_path / "c.npz", codes=codes, factors=factors)
    assert main(["eval", "--codes", str(tmp_path / "c.npz"), "--metrics", "mig"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mig") and float(out.split()[1]) > 0.9
    assert main(["eval"]) == 2
    assert "RUN_DIR or --codes" in capsys.readouterr().err


def test_cli_codes_file_with_too_few_rows_is_a_one_line_error(tmp_path, capsys):
    codes, factors = grid_arrays(3)
    np.savez(tmp_path / "three.npz", codes=codes, factors=factors)
    for metric in ("dci", "sap"):
        assert main(["eval", "--codes", str(tmp_path / "three.npz"), "--metrics", metric]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"{metric}: 2 training rows given, at least 10 needed" in err
    assert not (tmp_path / "three.eval.json").exists()
