"""Evaluate any representation: betavae.evaluate / evaluate_encoder, codes files (.npz, .csv)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import betavae
import betavae.metrics as bm
from betavae.cli import main
from betavae.errors import BetavaeError
from betavae.experiments.evaluate import evaluate_codes_file, load_codes_file, resolve_data

from .test_evaluate import IdentitySource, grid_arrays

SIZES = {"num_train": 600, "num_test": 300, "sampled_train": 100, "sampled_eval": 50}


def test_top_level_functions_are_the_library_ones():
    from betavae.experiments.evaluate import evaluate_encoder

    assert betavae.evaluate is bm.evaluate
    assert betavae.evaluate_encoder is evaluate_encoder


class Identity(torch.nn.Module):
    """A torch model that is not a betavae model: codes = inputs, plus a 'log-variance'."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 3, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(3))

    def forward(self, x):
        return self.linear(x), torch.zeros_like(x)


def test_torch_module_numpy_function_and_array_path_agree():
    metrics = ["mig", "dci", "beta_vae", "factor_vae"]
    model = Identity().train()
    via_torch = betavae.evaluate_encoder(model, IdentitySource(), metrics, preset="fast", sizes=SIZES)
    assert model.training  # the module's mode is restored
    via_numpy = betavae.evaluate_encoder(lambda x: x.astype(np.float32), IdentitySource(), metrics,
                                         preset="fast", sizes=SIZES)
    assert via_torch["values"] == via_numpy["values"]
    v = via_torch["values"]
    assert v["mig"] > 0.9 and v["beta_vae.eval_accuracy"] == 1.0 and v["factor_vae.eval_accuracy"] == 1.0
    # the array metrics of evaluate_encoder are betavae.evaluate on the sampled codes
    rng = np.random.default_rng(0)
    codes_tr, factors_tr = bm.sample_codes(lambda x: x.astype(np.float32), IdentitySource(), 600, seed=rng)
    codes_te, factors_te = bm.sample_codes(lambda x: x.astype(np.float32), IdentitySource(), 300, seed=rng)
    direct = betavae.evaluate(codes_tr, factors_tr, codes_te, factors_te, metrics=["mig", "dci"], preset="fast")
    assert {k: v[k] for k in direct["values"]} == direct["values"]


def test_evaluate_encoder_intervals_from_draws_and_from_resamples():
    encode = lambda x: x.astype(np.float32)  # noqa: E731
    kw = {"metrics": ["mig", "modularity"], "preset": "fast", "sizes": SIZES}
    r = betavae.evaluate_encoder(encode, IdentitySource(), bootstrap=4, **kw)
    assert r["bootstrap"]["method"] == "draws" and r["bootstrap"]["n"] == 4
    # the documented draws: default_rng((seed, 1)), per replicate the train set then the test set
    rng = np.random.default_rng((0, 1))
    scores = []
    for _ in range(4):
        tr = bm.sample_codes(encode, IdentitySource(), 600, seed=rng)
        te = bm.sample_codes(encode, IdentitySource(), 300, seed=rng)
        scores.append(betavae.evaluate(*tr, *te, metrics=kw["metrics"], preset="fast")["values"])
    for key in r["values"]:
        expected = np.percentile([s[key] for s in scores], [2.5, 97.5])
        assert r["intervals"][key] == pytest.approx(list(expected), rel=1e-12, abs=1e-15), key
    b = betavae.evaluate_encoder(encode, IdentitySource(), bootstrap=4, intervals="bootstrap", **kw)
    assert b["bootstrap"]["method"] == "percentile" and b["values"] == r["values"]
    lo, hi = b["intervals"]["mig"]
    assert 0.9 < lo <= hi <= 1.0
    with pytest.raises(BetavaeError, match="draws or bootstrap"):
        betavae.evaluate_encoder(encode, IdentitySource(), bootstrap=4, intervals="jackknife", **kw)


def test_data_by_name_config_or_mapping():
    source = resolve_data("dsprites")
    assert source.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    correlated = resolve_data({"kind": "dsprites_correlated", "pairs": [{"factors": ["scale", "posX"], "strength": 2}]})
    assert correlated.factor_sizes == source.factor_sizes
    with pytest.raises(BetavaeError, match="unknown data source kind 'nope'"):
        resolve_data("nope")
    with pytest.raises(BetavaeError, match="must be a callable"):
        betavae.evaluate_encoder(3, IdentitySource(), ["mig"])


def test_dsprites_with_a_numpy_centroid_encoder():
    """The docs' example: a hand-written encoder (sprite centroid) captures posX and posY."""

    def centroid(images):  # (n, 1, 64, 64) uint8 -> (n, 2): mean column and row of the sprite
        mass = images[:, 0].astype(np.float64)
        total = mass.sum(axis=(1, 2))
        grid = np.arange(64.0)
        return np.stack([(mass.sum(axis=1) @ grid) / total, (mass.sum(axis=2) @ grid) / total], axis=1)

    r = betavae.evaluate_encoder(centroid, "dsprites", ["sap_continuous"], preset="fast",
                                 sizes={"num_train": 400, "num_test": 200})
    # two of the five factors are captured by one code each, almost perfectly: SAP ≈ 2/5
    assert 0.36 < r["values"]["sap.continuous"] <= 0.4


def write_csv(path, codes, factors, names, split=None):
    header = [f"factor:{n}" for n in names] + [f"code:z{i}" for i in range(codes.shape[1])]
    lines = [",".join(header + (["split"] if split is not None else []))]
    for r in range(codes.shape[0]):
        fields = [str(int(v)) for v in factors[r]] + [repr(float(v)) for v in codes[r]]
        lines.append(",".join(fields + ([split[r]] if split is not None else [])))
    path.write_text("\n".join(lines) + "\n")


def test_csv_equals_npz(tmp_path):
    codes, factors = grid_arrays(300)
    names = ["a", "b", "c", "d", "e"]
    write_csv(tmp_path / "c.csv", codes, factors, names)
    np.savez(tmp_path / "c.npz", codes=codes, factors=factors, factor_names=np.array(names))
    loaded = load_codes_file(tmp_path / "c.csv")
    assert loaded["factor_names"] == names and np.array_equal(loaded["codes"], codes)
    assert load_codes_file(tmp_path / "c.npz")["factor_names"] == names
    kw = {"metrics": ["mig", "sap_continuous", "modularity"]}
    assert (evaluate_codes_file(tmp_path / "c.csv", **kw)["values"]
            == evaluate_codes_file(tmp_path / "c.npz", **kw)["values"])
    split = ["train"] * 200 + ["test"] * 100
    write_csv(tmp_path / "s.csv", codes, factors, names, split)
    r = evaluate_codes_file(tmp_path / "s.csv", ["mig"])
    assert r["n_train"] == 200 and r["n_test"] == 100 and r["n_all"] == 200
    # factor names reach the warnings
    factors[:, 2] = 0
    write_csv(tmp_path / "k.csv", codes, factors, names)
    assert "factor column(s) c are constant" in evaluate_codes_file(tmp_path / "k.csv", ["mig"])["warnings"][0]


def test_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("factor:a,code:z,extra\n1,0.5,3\n")
    with pytest.raises(BetavaeError, match="unrecognised: extra"):
        load_codes_file(bad)
    bad.write_text("factor:a,code:z\n1,oops\n")
    with pytest.raises(BetavaeError, match="code value is not a number"):
        load_codes_file(bad)
    bad.write_text("factor:a,code:z,split\n1,0.5,val\n")
    with pytest.raises(BetavaeError, match=r"split column holds \['val'\]"):
        load_codes_file(bad)
    bad.write_text("factor:a,code:z\n1,0.5,7\n")
    with pytest.raises(BetavaeError, match="line 2 has 3 fields"):
        load_codes_file(bad)


def test_cli_csv_bootstrap_and_formats(tmp_path, capsys):
    codes, factors = grid_arrays(300)
    write_csv(tmp_path / "c.csv", codes, factors, list("abcde"))
    args = ["eval", "--codes", str(tmp_path / "c.csv"), "--metrics", "mig,irs", "--bootstrap", "5"]
    assert main([*args, "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bootstrap"]["n"] == 5 and set(result["intervals"]) == {"mig", "irs", "irs.num_active_dims"}
    saved = json.loads((tmp_path / "c.eval.json").read_text())
    assert saved["intervals"] == result["intervals"]
    assert main([*args, "--preset", "fast"]) == 0
    lines = capsys.readouterr().out.splitlines()
    lo, hi = result["intervals"]["mig"]
    assert lines[0].split()[0] == "mig" and lines[0].endswith(f"[{lo:.4f}, {hi:.4f}]")
    assert lines[-2] == "intervals: percentile 95% over 5 bootstrap replicates"
    assert main([*args, "--fast", "--preset", "default"]) == 2


def test_cli_breakdown_names_the_factors(tmp_path, capsys):
    codes, factors = grid_arrays(300)
    write_csv(tmp_path / "c.csv", codes, factors, ["shape", "scale", "rot", "x", "y"])
    assert main(["eval", "--codes", str(tmp_path / "c.csv"), "--metrics", "mig", "--breakdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split()[0] for line in lines[:-1]]
    assert keys[0] == "mig" and "mig[shape]" in keys and "mig.shared[x,y]" in keys
    saved = json.loads((tmp_path / "c.eval.json").read_text())
    assert saved["breakdown"]["mig.top_code[scale]"] == 1.0  # the code columns are the factors


def test_evaluate_udr_of_encoders_with_and_without_variance():
    from betavae.experiments.evaluate import evaluate_udr

    perm = Identity()
    with torch.no_grad():
        perm.linear.weight.copy_(torch.eye(3)[[2, 0, 1]])
    r = evaluate_udr([Identity(), perm, lambda x: -x], IdentitySource(), num_points=300, correlation="spearman")
    # the same as udr() on the drawn factor vectors, which the three encoders only permute
    f = IdentitySource().sample_factors_uniform(300, np.random.default_rng(0)).astype(float)
    direct = bm.udr([f, f[:, [2, 0, 1]], -f], correlation="spearman")
    assert r["model_scores"] == pytest.approx(direct["model_scores"], abs=1e-12)
    assert len(set(np.round(r["model_scores"], 12))) == 1
    assert r["kl_filtered"] is False  # the NumPy encoder gives no log-variance
    r = evaluate_udr([Identity(), perm], IdentitySource(), num_points=300)
    assert r["kl_filtered"] is True
