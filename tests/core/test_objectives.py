"""Objectives, likelihoods and models: known values and the contract over every registered kind."""

from __future__ import annotations

import math

import pytest
import torch

from betavae.config import build_config
from betavae.errors import BetavaeError
from betavae.models import MODELS
from betavae.models.likelihood import Bernoulli, Gaussian
from betavae.objectives import OBJECTIVES
from betavae.objectives.terms import beta_normalised, kl_per_latent

#: the kinds the image task trains (other tasks' kinds have their own contract, e.g. tests/vsa)
IMAGE_OBJECTIVES = [k for k in OBJECTIVES.names() if OBJECTIVES.get(k).task == "image"]
IMAGE_MODELS = [k for k in MODELS.names() if MODELS.get(k).task == "image"]


def test_kl_of_known_gaussians():
    mu = torch.tensor([[0.0, 1.0, 0.0, 2.0]])
    logvar = torch.tensor([[0.0, 0.0, 1.0, math.log(0.25)]])
    kl = kl_per_latent(mu, logvar)
    expected = [0.0, 0.5, 0.5 * (math.e - 1 - 1), 0.5 * (4 + 0.25 - math.log(0.25) - 1)]
    torch.testing.assert_close(kl, torch.tensor([expected]))


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(16, 5, generator=g), torch.randn(16, 5, generator=g)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(kl_per_latent(mu, logvar), torch.distributions.kl_divergence(q, p))


def test_bernoulli_nll_sums_over_pixels():
    x = (torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    nll = Bernoulli().nll(torch.zeros_like(x), x)
    torch.testing.assert_close(nll, torch.full((3,), 4096 * math.log(2)))


def test_gaussian_nll_with_and_without_constant():
    x = torch.ones(2, 1, 4, 4)
    logits = torch.zeros_like(x)  # x̂ = 0.5
    plain = Gaussian(sigma=1.0).nll(logits, x)
    torch.testing.assert_close(plain, torch.full((2,), 16 * 0.25 / 2))
    with_const = Gaussian(sigma=0.5, constant=True).nll(logits, x)
    expected = 16 * 0.25 / (2 * 0.25) + 8 * math.log(2 * math.pi * 0.25)
    torch.testing.assert_close(with_const, torch.full((2,), expected))


def test_gaussian_identity_link_known_answers_and_gradients():
    """x̂ = ℓ: NLL and gradient at known points, beside the sigmoid link's p(1 − p)-weighted gradient."""
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    logits = torch.tensor([[0.25, 0.25, 2.0, -3.0]], requires_grad=True)
    nll = Gaussian(sigma=0.5, link="identity").nll(logits, x)
    torch.testing.assert_close(nll, torch.tensor([(0.75**2 + 0.25**2 + 1.0 + 9.0) / 0.5]))
    nll.sum().backward()
    torch.testing.assert_close(logits.grad, (logits.detach() - x) / 0.25)  # (ℓ − x)/σ², every pixel alike
    pixels = torch.tensor([[-6.0, 0.0]], requires_grad=True)  # p ≈ 0.0025 and 0.5, both where x = 1
    Gaussian(sigma=1.0).nll(pixels, torch.ones(1, 2)).sum().backward()
    p = torch.sigmoid(pixels.detach())
    torch.testing.assert_close(pixels.grad, (p - 1) * p * (1 - p))  # the dark pixel barely pulls
    assert abs(pixels.grad[0, 0]) < 0.02 * abs(pixels.grad[0, 1])  # Bernoulli: 0.9975 vs 0.5
    shown = Gaussian(link="identity").mean(torch.tensor([-0.5, 0.3, 1.7]))
    torch.testing.assert_close(shown, torch.tensor([0.0, 0.3, 1.0]))
    with pytest.raises(BetavaeError, match="model.likelihood.link: Input should be 'sigmoid' or 'identity'"):
        build_config({"model": {"likelihood": {"kind": "gaussian", "link": "logit"}}})


def test_beta_normalised_higgins():
    assert beta_normalised(4, 10, 4096) == pytest.approx(0.0098, abs=1e-4)


def _forward(kind_cfg: dict, steps: tuple[int, int] = (0, 0)):
    cfg = build_config({"objective": kind_cfg, "model": {"kind": "burgess", "latent_dim": 4}})
    torch.manual_seed(0)
    model = cfg.model.build((1, 64, 64))
    objective = cfg.objective.build(cfg.model.likelihood, cfg.model.latent_dim)
    x = (torch.rand(6, 1, 64, 64) > 0.8).float()
    out = model(x)
    hyper = objective.hyper(*steps)
    return model, objective, out, objective(out, x, hyper), hyper


def test_beta_objective_is_recon_plus_beta_kl():
    _, _, _, terms, hyper = _forward({"kind": "beta", "beta": 4})
    assert hyper == {"beta": 4.0}
    torch.testing.assert_close(terms["loss"], terms["recon"] + 4 * terms["kl"])
    torch.testing.assert_close(terms["kl"], terms["kl_per_dim"].sum(1).mean())
    assert terms["kl_per_dim"].shape == (6, 4)


def test_vae_objective_has_beta_one():
    _, _, _, terms, hyper = _forward({"kind": "vae"})
    assert hyper["beta"] == 1.0
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["kl"])


def test_capacity_objective_formula_and_schedule():
    spec = {"kind": "capacity", "gamma": 100, "capacity": {"kind": "capacity", "c_max": 25, "length": 1000}}
    _, _, _, terms, hyper = _forward(spec, steps=(500, 0))
    assert hyper["capacity"] == pytest.approx(12.5) and hyper["gamma"] == 100 and hyper["beta"] == 100
    torch.testing.assert_close(terms["loss"], terms["recon"] + 100 * (terms["kl"] - 12.5).abs())


def test_beta_schedule_is_asked_at_the_step():
    spec = {"kind": "beta", "beta": {"kind": "linear", "start": 0, "end": 2, "length": 100}}
    *_, hyper = _forward(spec, steps=(25, 0))
    assert hyper["beta"] == pytest.approx(0.5)


EXAMPLES = {
    "vae": {}, "beta": {"beta": 2}, "capacity": {"gamma": 10},
    "per_latent": {"beta": 2, "weights": [1, 2, 0.5, 1]}, "learned": {"lam_bal": 0.5},
    "pairwise": {"beta": 2, "lam_pair": 0.5},
    "betatcvae": {"estimator": "mss"}, "factorvae": {"disc_hidden": 16, "disc_layers": 2},
}


def _grads(loss: torch.Tensor, params: list) -> list:
    if not params:
        return []
    return torch.autograd.grad(loss, [p for _, p in params], retain_graph=True, allow_unused=True)


def _reached(grad) -> bool:
    return grad is not None and bool(grad.abs().sum() > 0)


def test_every_objective_and_model_kind_names_a_registered_task():
    """Kinds of other tasks (e.g. the cross-modal ones) have their contract tests with their system."""
    from betavae.train.task import TASKS, load_tasks

    load_tasks()
    for registry in (OBJECTIVES, MODELS):
        for kind in registry.names():
            assert registry.get(kind).task in TASKS, kind
    assert "beta" in IMAGE_OBJECTIVES and "burgess" in IMAGE_MODELS


@pytest.mark.parametrize("kind", IMAGE_OBJECTIVES)
def test_objective_contract(kind):
    """Finite terms; ``loss`` reaches the model and the objective's main parameters and no auxiliary
    one; ``aux_loss`` (if any) reaches only the auxiliary parameters."""
    assert kind in EXAMPLES, f"objective {kind!r} has no example in EXAMPLES: add one"
    model, objective, out, terms, hyper = _forward({"kind": kind, **EXAMPLES[kind]})
    for key, value in terms.items():
        assert torch.isfinite(value).all(), key
    for key in ("loss", "recon", "kl"):
        assert terms[key].dim() == 0
    assert terms["kl_per_dim"].shape == (6, 4)
    assert "beta" in hyper and isinstance(hyper["beta"], float)
    aux_ids = {id(p) for p in objective.auxiliary_parameters()}
    main_ids = {id(p) for g in objective.param_groups() for p in g["params"]}
    assert not (aux_ids & main_ids)
    assert main_ids | aux_ids == {id(p) for p in objective.parameters() if p.requires_grad}
    model_params = list(model.named_parameters())
    main = [(n, p) for n, p in objective.named_parameters() if id(p) in main_ids]
    aux = [(n, p) for n, p in objective.named_parameters() if id(p) in aux_ids]
    for (name, _), g in zip(model_params + main, _grads(terms["loss"], model_params + main), strict=True):
        assert _reached(g) and torch.isfinite(g).all(), f"loss does not reach {name}"
    for (name, _), g in zip(aux, _grads(terms["loss"], aux), strict=True):
        assert g is None, f"loss reaches auxiliary parameter {name}"
    assert ("aux_loss" in terms) == bool(aux) == (objective.auxiliary_optimizer() is not None)
    if aux:
        for (name, _), g in zip(model_params + main, _grads(terms["aux_loss"], model_params + main), strict=True):
            assert g is None, f"aux_loss reaches {name}"
        for (name, _), g in zip(aux, _grads(terms["aux_loss"], aux), strict=True):
            assert _reached(g), f"aux_loss does not reach auxiliary parameter {name}"


@pytest.mark.parametrize("kind", IMAGE_MODELS)
def test_model_shapes(kind):
    cfg = build_config({"model": {"kind": kind, "latent_dim": 7, **({"hidden": [32]} if kind == "mlp" else {})}})
    model = cfg.model.build((1, 64, 64))
    x = torch.rand(3, 1, 64, 64)
    out = model(x)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (3, 7)
    assert out.logits.shape == x.shape
    torch.testing.assert_close(model(x, sample=False).z, out.mu)


def test_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    cfg = build_config({"objective": {"kind": "beta", "beta": 1}, "model": {"latent_dim": 4}})
    model = cfg.model.build((1, 64, 64))
    objective = cfg.objective.build(cfg.model.likelihood, 4)
    x = torch.zeros(8, 1, 64, 64)
    for i in range(8):
        x[i, 0, 8 * i: 8 * i + 12, 10:30] = 1
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(60):
        terms = objective(model(x), x, objective.hyper(0, 0))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(terms["loss"].item())
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])
