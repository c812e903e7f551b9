"""betavae.models.diagnostics: dead ReLU layers, known answers."""

import torch
from torch import nn

from betavae.models.diagnostics import dead_layers, relu_layers


def test_fraction_of_units_positive_for_some_input_and_dead_layers():
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0], [-1, 0], [0, 0], [0, 0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0, 1, -1]))  # unit 0: x0 > 0, 1: x0 < 0, 2: always, 3: never
        net[2].weight.zero_()
        net[2].bias.fill_(-1.0)                            # the second ReLU is dead for every input
    x = torch.tensor([[1.0, 5.0], [2.0, -3.0]])            # x0 > 0 only: unit 1 never fires
    layers = relu_layers(net, lambda: net(x))
    assert [(r.name, r.units, r.alive) for r in layers] == [("1", 4, 0.5), ("3", 3, 0.0)]
    assert [r.name for r in dead_layers(layers)] == ["3"]
    x_both = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert relu_layers(net, lambda: net(x_both))[0].alive == 0.75
    assert net.training and not net[1]._forward_hooks  # mode restored, hooks removed


def test_conv_units_are_channels_times_positions():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.copy_(torch.tensor([1.0, -1.0]))
    (layer,) = relu_layers(net, lambda: net(torch.zeros(3, 1, 4, 4)))
    assert layer.units == 2 * 16 and layer.alive == 0.5
