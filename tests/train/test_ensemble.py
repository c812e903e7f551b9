"""K runs trained as one ensemble (issue #19): members equal single runs, state round trips, resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from betavae.config import build_config
from betavae.errors import BetavaeError
from betavae.experiments.load import load_run, load_state
from betavae.experiments.run import Trainer, resume, resume_ensemble, train, train_ensemble
from betavae.experiments.rundir import read_meta, read_metrics
from betavae.train.batches import make_batch
from betavae.train.callbacks import Callback
from betavae.train.checkpoint import load_weights
from betavae.train.ensemble import (
    member_optimizer_state,
    parse_seeds,
    seed_configs,
    stack_optimizer_states,
)

SEEDS = [0, 3, 7]


def tree(seed: int = 0, steps: int = 4, beta: float = 4.0, speed: str = "plain") -> dict:
    return {"name": "ens", "seed": seed, "model": {"kind": "burgess", "latent_dim": 4},
            "objective": {"kind": "beta", "beta": beta},
            "train": {"steps": steps, "batch_size": 8, "log_every": 2, "checkpoint_every": 2, "lr": 1e-3,
                      "threads": 1, "report": False, "speed": speed, "device": "cpu"}}


def ensemble_trainer(tmp_path: Path, seeds=SEEDS, **kw) -> Trainer:
    configs = seed_configs(build_config(tree(**kw)), seeds)
    return Trainer(configs, [tmp_path / c.run_id() for c in configs])


def test_member_k_at_step_0_is_the_single_run_of_seed_k_bit_for_bit(tmp_path):
    ens = ensemble_trainer(tmp_path)
    for k, seed in enumerate(SEEDS):
        single = Trainer(build_config(tree(seed)), tmp_path / f"single{seed}")
        state = single.task.model.state_dict()
        member = ens.task.ensemble.member_state_dict(k)
        assert list(member) == list(state)
        assert all(torch.equal(member[n], state[n]) for n in state)
        # the member's noise generator holds the state the single run draws its first ε from
        assert torch.equal(ens.task.noise.generators[k].get_state(), torch.get_rng_state())


def single_gradients(seed: int, x: torch.Tensor, eps: torch.Tensor | None, tmp_path: Path, **kw):
    single = Trainer(build_config(tree(seed, **kw)), tmp_path / f"g{seed}")
    hyper = single.task.objective.hyper(0, 0)
    terms = single.task.objective(single.task.model(x, sample=eps is not None, eps=eps), x, hyper)
    terms["loss"].backward()
    return {n: p.grad for n, p in single.task.model.named_parameters()}, terms


@pytest.mark.parametrize("noise", [False, True])
def test_one_ensemble_step_gives_each_member_its_single_run_gradient_and_update(tmp_path, noise):
    """Summed loss -> member k's slice of the gradient is its own loss's gradient, and Adam over
    the stacked tensors gives member k the update a single Adam gives for that gradient.

    Tolerance of the gradients: vmap runs the members as one grouped convolution / batched matmul,
    which sums in another order than K separate fp32 calls: rtol 1e-4, atol 1e-7 (measured ≈ 1e-6
    relative). The update itself is elementwise, so given the same gradient it is the same bits."""
    ens = ensemble_trainer(tmp_path)
    x = torch.stack([make_batch(ens.task.source, 8, s, 0) for s in SEEDS])
    eps = ens.task.noise.draw((8, 4)) if noise else None
    hypers = [o.hyper(0, 0) for o in ens.task.objectives]
    terms = ens.task.ensemble_terms(x, eps, hypers)
    torch.stack([t["loss"] for t in terms]).sum().backward()
    ens.optimizer.step()
    for k, seed in enumerate(SEEDS):
        grads, single_terms = single_gradients(seed, x[k], None if eps is None else eps[k], tmp_path)
        assert torch.allclose(terms[k]["loss"], single_terms["loss"], rtol=1e-6)
        for name, g in grads.items():
            torch.testing.assert_close(ens.task.ensemble.params[name].grad[k], g, rtol=1e-4, atol=1e-7)
        single = Trainer(build_config(tree(seed)), tmp_path / f"s{seed}")
        for name, p in single.task.model.named_parameters():
            p.grad = ens.task.ensemble.params[name].grad[k].clone()
        single.optimizer.step()
        after = ens.task.ensemble.member_state_dict(k)
        for name, p in single.task.model.named_parameters():
            assert torch.equal(after[name], p.detach()), name


def test_per_member_beta_changes_the_gradient_by_beta_times_the_kl_gradient(tmp_path):
    """Two members of the same seed (same init, batches and ε), β = 1 and β = 8: their gradients
    differ by exactly 7·∇KL, and the β = 8 member's step lowers the KL more."""
    configs = [build_config(tree(0, beta=1.0)), build_config(tree(0, beta=8.0))]
    ens = Trainer(configs, [tmp_path / c.run_id() for c in configs])
    x = torch.stack([make_batch(ens.task.source, 8, 0, 0)] * 2)
    hypers = [o.hyper(0, 0) for o in ens.task.objectives]
    assert [h["beta"] for h in hypers] == [1.0, 8.0]
    terms = ens.task.ensemble_terms(x, None, hypers)
    torch.stack([t["loss"] for t in terms]).sum().backward()
    single = Trainer(configs[0], tmp_path / "kl")
    single.task.objective(single.task.model(x[0], sample=False), x[0], hypers[0])["kl"].backward()
    for name, p in single.task.model.named_parameters():
        diff = ens.task.ensemble.params[name].grad[1] - ens.task.ensemble.params[name].grad[0]
        expected = torch.zeros_like(diff) if p.grad is None else 7.0 * p.grad  # the decoder has no KL gradient
        torch.testing.assert_close(diff, expected, rtol=1e-3, atol=1e-5)
    ens.optimizer.step()
    with torch.no_grad():
        kl_after = [t["kl"].item() for t in ens.task.ensemble_terms(x, None, hypers)]
    assert kl_after[1] < kl_after[0]


def test_optimizer_state_splits_and_stacks_exactly(tmp_path):
    ens = ensemble_trainer(tmp_path, speed="fast")
    x = torch.stack([make_batch(ens.task.source, 8, s, 0) for s in SEEDS])
    for _ in range(2):
        ens.optimizer.zero_grad()
        torch.stack([t["loss"] for t in ens.task.ensemble_terms(x, None, [{"beta": 4.0}] * 3)]).sum().backward()
        ens.optimizer.step()
    state = ens.optimizer.state_dict()
    members = [member_optimizer_state(state, k) for k in range(3)]
    again = stack_optimizer_states(members)
    for i, s in state["state"].items():
        for key, value in s.items():
            assert torch.equal(again["state"][i][key], value)
    # a member's slice loads into a single model's Adam (the one a single run builds)
    single = Trainer(build_config(tree(SEEDS[1], speed="fast")), tmp_path / "one")
    single.optimizer.load_state_dict(members[1])
    first = next(iter(single.optimizer.state.values()))
    assert torch.equal(first["exp_avg"], state["state"][0]["exp_avg"][1])


def test_run_folders_read_like_single_runs_and_hold_the_members_exactly(tmp_path):
    configs = seed_configs(build_config(tree(steps=2)), SEEDS)
    dirs = train_ensemble(configs, tmp_path)
    assert [d.name for d in dirs] == [f"ens-{configs[0].config_hash()}-s{s}" for s in SEEDS]
    for k, d in enumerate(dirs):
        assert {p.name for p in d.iterdir()} >= {"config.yaml", "metrics.jsonl", "weights.safetensors",
                                                  "state.pt", "meta.json"}
        meta = read_meta(d)
        assert meta["status"] == "finished" and meta["ensemble"]["index"] == k
        assert meta["ensemble"]["members"] == [x.name for x in dirs]
        assert [r["step"] for r in read_metrics(d)] == [2]
        run = load_run(d)
        assert run.config.seed == SEEDS[k] and run.step == 2
        weights, _, _ = load_weights(d / "weights.safetensors")
        state = load_state(d)
        assert all(torch.equal(weights[n], state["model"][n]) for n in weights)
        assert all(torch.equal(run.model.state_dict()[n], weights[n]) for n in weights)


class StopAfter(Callback):
    def __init__(self, step: int) -> None:
        self.stop = step

    def on_step(self, step: int) -> None:
        if step == self.stop:
            raise KeyboardInterrupt


def test_an_interrupted_ensemble_resumes_bit_exactly(tmp_path):
    configs = seed_configs(build_config(tree(steps=6)), [1, 2])
    straight = train_ensemble(configs, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        train_ensemble(configs, tmp_path / "cut", callbacks=[StopAfter(3)])  # checkpoint at step 2
    cut = [tmp_path / "cut" / d.name for d in straight]
    assert [load_state(d)["step"] for d in cut] == [2, 2]
    alone = tmp_path / "alone" / cut[1].name
    shutil.copytree(cut[1], alone)
    resume_ensemble(cut[0])
    for a, b in zip(straight, cut, strict=True):
        wa, wb = load_weights(a / "weights.safetensors")[0], load_weights(b / "weights.safetensors")[0]
        assert all(torch.equal(wa[n], wb[n]) for n in wa)
        keys = ("step", "loss", "recon", "kl", "kl_per_dim")
        assert [{k: r[k] for k in keys} for r in read_metrics(a)] == [{k: r[k] for k in keys} for r in read_metrics(b)]
        assert read_meta(b)["status"] == "finished" and len(read_meta(b)["sessions"]) == 2
    # a member's checkpoint is a single run's: it continues alone, to the ensemble's weights within fp32
    resume(alone)
    wa, wb = load_weights(straight[1] / "weights.safetensors")[0], load_weights(alone / "weights.safetensors")[0]
    for n in wa:
        torch.testing.assert_close(wb[n], wa[n], rtol=0, atol=1e-4)


@pytest.mark.parametrize("kind", ["factorvae", "learned", "per_latent"])
def test_objectives_with_state_are_refused_and_nothing_is_written(tmp_path, kind):
    t = tree()
    t["objective"] = {"kind": kind}
    with pytest.raises(BetavaeError, match="state of its own"):
        train_ensemble(seed_configs(build_config(t), [0, 1]), tmp_path)
    assert not any(tmp_path.iterdir())


def test_members_that_differ_beyond_seed_and_objective_are_refused(tmp_path):
    a, b = build_config(tree(0)), build_config({**tree(1), "model": {"kind": "burgess", "latent_dim": 5}})
    with pytest.raises(BetavaeError, match="differs in model"):
        train_ensemble([a, b], tmp_path)
    with pytest.raises(BetavaeError, match="repeat"):
        seed_configs(a, [1, 1])
    assert parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("4,2") == [4, 2]
    with pytest.raises(BetavaeError, match="--seeds"):
        parse_seeds("a,b")


def test_train_refuses_existing_member_folders_before_writing_any(tmp_path):
    configs = seed_configs(build_config(tree(steps=2)), [0, 1])
    single = train(configs[1], tmp_path)
    before = (single / "weights.safetensors").read_bytes()
    with pytest.raises(BetavaeError, match="already exists"):
        train_ensemble(configs, tmp_path)
    assert not (tmp_path / configs[0].run_id()).exists()
    assert (single / "weights.safetensors").read_bytes() == before


def test_cli_trains_seeds_as_an_ensemble_and_resumes_it_from_any_member(tmp_path, capsys):
    import yaml

    from betavae.cli import main

    path = tmp_path / "ens.yaml"
    path.write_text(yaml.safe_dump(tree(steps=2)))
    runs = tmp_path / "runs"
    assert main(["train", str(path), "--seeds", "4,5", "--runs-dir", str(runs), "--no-progress"]) == 0
    lines = [line.split("run folder:")[1].strip() for line in capsys.readouterr().out.splitlines()]
    folders = lines[:2]
    assert lines == folders * 2  # each member's folder when training starts, and again at the end
    assert [Path(f).name.rsplit("-", 1)[1] for f in folders] == ["s4", "s5"]
    assert all(read_meta(f)["status"] == "finished" for f in folders)
    assert main(["train", "--resume", folders[1], "--no-progress"]) == 0  # finished: nothing to do
    assert main(["train", str(path), "--seeds", "x", "--runs-dir", str(runs)]) == 2
    assert "--seeds 'x'" in capsys.readouterr().err


def test_members_with_different_objectives_each_log_their_own_terms(tmp_path):
    """A β-VAE member and a β-TC-VAE member (which has three more terms) train together; each row
    holds its own objective's terms, which add up to its loss (the window means are linear)."""
    beta = build_config(tree(0, steps=2))
    tc = build_config({**tree(1, steps=2), "objective": {"kind": "betatcvae"}})
    dirs = train_ensemble([beta, tc], tmp_path)
    (b,), (t,) = (read_metrics(d) for d in dirs)
    assert not {"mi", "tc", "dwkl"} & set(b) and b["beta"] == 4.0
    assert b["loss"] == pytest.approx(b["recon"] + 4.0 * b["kl"], rel=1e-5)
    assert t["beta"] == 6.0 and t["alpha"] == t["gamma"] == 1.0
    assert t["loss"] == pytest.approx(t["recon"] + t["mi"] + 6.0 * t["tc"] + t["dwkl"], rel=1e-5)


def test_a_nan_in_one_member_names_member_step_and_term_and_keeps_every_checkpoint(tmp_path, monkeypatch):
    from betavae.objectives.beta import BetaObjective

    original = BetaObjective.forward
    calls = {"n": 0}

    def poisoned(self, out, x, hyper):
        terms = original(self, out, x, hyper)
        if hyper["beta"] == 8.0:
            calls["n"] += 1
            if calls["n"] > 3:  # the β = 8 member's step 3
                terms["kl"] = terms["kl"] * float("nan")
                terms["loss"] = terms["recon"] + hyper["beta"] * terms["kl"]
        return terms

    monkeypatch.setattr(BetaObjective, "forward", poisoned)
    configs = [build_config(tree(0, steps=6, beta=1.0)), build_config(tree(1, steps=6, beta=8.0))]
    name = configs[1].run_id()
    with pytest.raises(BetavaeError, match=rf"loss term kl, loss of member {name} became NaN/inf at step 3"):
        train_ensemble(configs, tmp_path)
    for c in configs:
        run = tmp_path / c.run_id()
        assert load_state(run)["step"] == 2
        assert read_meta(run)["status"] == "failed"
        assert [r["step"] for r in read_metrics(run)] == [2]
