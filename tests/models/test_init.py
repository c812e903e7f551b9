"""model.init (issue #22): weight statistics per scheme, determinism per seed, and the resolved config."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from torch import nn

from betavae.config import build_config, load_config
from betavae.errors import BetavaeError
from betavae.experiments.run import train
from betavae.models.init import LAYERS, fan_in
from betavae.shipped import SHIPPED_DIR as SHIPPED
from tests.conftest import tiny_tree

SHAPE = (1, 64, 64)


def build(init: str, seed: int = 0, kind: str = "burgess") -> nn.Module:
    torch.manual_seed(seed)
    return build_config({"model": {"kind": kind, "init": init}}).model.build(SHAPE)


def layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, LAYERS)]


def test_fan_in_known_answers_for_the_burgess_layers():
    first, *_ = layers(build("torch"))
    enc = build("torch").encoder
    dec = build("torch").decoder
    assert fan_in(first.weight) == 1 * 4 * 4  # Conv2d(1, 32, 4): in_channels·k·k
    assert fan_in(enc[9].weight) == 32 * 16  # Linear(512, 256)
    # ConvTranspose2d(32, 1, 4): weight (in=32, out=1, 4, 4); PyTorch's fan_in reads dim 1 = out·k·k
    assert isinstance(dec[-1], nn.ConvTranspose2d) and tuple(dec[-1].weight.shape) == (32, 1, 4, 4)
    assert fan_in(dec[-1].weight) == 16
    assert fan_in(dec[-1].weight) == nn.init._calculate_fan_in_and_fan_out(dec[-1].weight)[0]


def test_kaiming_uniform_bounds_and_spread_per_layer():
    for layer in layers(build("kaiming_uniform")):
        bound = math.sqrt(6 / fan_in(layer.weight))  # gain √2 · √(3 / fan_in)
        w = layer.weight.detach()
        assert w.abs().max() <= bound
        # uniform on ±bound: sd = bound/√3; the smallest layer has 32·16 = 512 weights
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.12)
        assert w.abs().max() > 0.85 * bound
        b = layer.bias.detach()
        assert b.abs().max() <= 1 / math.sqrt(fan_in(layer.weight))  # PyTorch's bias bound, kept


def test_kaiming_uniform_known_bound_of_the_decoder_output_layer():
    last = build("kaiming_uniform").decoder[-1]
    assert math.sqrt(6 / 16) == pytest.approx(0.6123724)
    assert last.weight.abs().max().item() <= 0.6123725
    assert last.weight.abs().max().item() > 0.5  # 512 draws on ±0.612: the max is within 1 % of it
    torch_last = build("torch").decoder[-1]
    assert torch_last.weight.abs().max().item() <= 0.25  # PyTorch's default: ±1/√16
    assert (last.weight.std() / torch_last.weight.std()).item() == pytest.approx(math.sqrt(6), rel=0.15)


def test_kaiming_uniform_redraws_weights_only_biases_are_the_torch_ones():
    torch_model, kaiming = build("torch", seed=5), build("kaiming_uniform", seed=5)
    for a, b in zip(layers(torch_model), layers(kaiming), strict=True):
        assert torch.equal(a.bias, b.bias)  # construction draws are the same; the scheme comes after
        assert not torch.equal(a.weight, b.weight)


def test_kaiming_normal_is_he_normal_with_zero_biases():
    for layer in layers(build("kaiming_normal")):
        w = layer.weight.detach()
        assert w.std().item() == pytest.approx(math.sqrt(2 / fan_in(w)), rel=0.12)
        assert abs(w.mean().item()) < 0.2 * math.sqrt(2 / fan_in(w))
        assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("kind", ["burgess", "dlib_conv", "mlp"])
def test_torch_scheme_is_pytorch_default_construction(kind):
    """``torch`` draws nothing after construction, so the model is PyTorch's default one."""
    model = build("torch", seed=11, kind=kind)
    torch.manual_seed(11)
    plain = build_config({"model": {"kind": kind}}).model.network(SHAPE)
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), plain.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)


@pytest.mark.parametrize("init", ["torch", "kaiming_uniform", "kaiming_normal"])
def test_each_scheme_is_deterministic_per_seed(init):
    a, b, c = build(init, seed=1), build(init, seed=1), build(init, seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_unknown_scheme_is_a_clear_config_error():
    with pytest.raises(BetavaeError, match="init"):
        build_config({"model": {"kind": "burgess", "init": "xavier"}})


def test_init_is_recorded_in_the_run_config_and_an_old_config_reads_as_torch(tmp_path):
    tree = tiny_tree(steps=2, log_every=2, checkpoint_every=2)
    tree["model"]["init"] = "kaiming_uniform"
    run = train(build_config(tree), tmp_path)
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["init"] == "kaiming_uniform"
    # a run folder written before model.init existed has no such key: it rebuilds PyTorch's default
    old = yaml.safe_load((run / "config.yaml").read_text())
    del old["model"]["init"]
    assert build_config(old).model.init == "torch"


@pytest.mark.parametrize("name", sorted(p.stem for p in SHIPPED.glob("dsprites_*.yaml")))
def test_shipped_dsprites_configs_choose_kaiming_uniform(name):
    assert load_config(SHIPPED / f"{name}.yaml").model.init == "kaiming_uniform"
