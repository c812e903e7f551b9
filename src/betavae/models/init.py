"""Weight initialisation schemes for the models (``model.init``).

Applied once, right after a model is constructed, drawing from the global torch RNG (which the
training loop has seeded), so a scheme is deterministic per seed. Each scheme visits every
``nn.Linear``, ``nn.Conv*d`` and ``nn.ConvTranspose*d`` layer:

- ``torch``: PyTorch's own defaults, left as constructed (no extra draws). Weights and biases
  ~ U(±1/√fan_in) (``kaiming_uniform_`` with a = √5). What betavae used before issue #22; runs
  whose config.yaml has no ``model.init`` are read as this.
- ``kaiming_uniform``: He et al. (2015) uniform for ReLU, weights ~ U(±√(6/fan_in)) (gain √2,
  i.e. √6 = √2·√3 times the bound of ``torch``); biases keep PyTorch's U(±1/√fan_in). This is
  what YannDubs/disentangling-vae (``disvae/utils/initialization.py``, ``weights_init``) applies
  to every convolution, transposed convolution and linear layer, the output layers included.
- ``kaiming_normal``: He normal for ReLU, weights ~ N(0, 2/fan_in), biases 0; the scheme of
  1Konny/Beta-VAE (``kaiming_init``), which there reaches ``Linear`` and ``Conv2d`` layers only
  (its check misses ``ConvTranspose2d``, which keeps PyTorch's defaults); here every layer.

fan_in is PyTorch's (``nn.init._calculate_fan_in_and_fan_out``): for ``Linear`` the input size,
for ``Conv2d`` in_channels·k·k, and for ``ConvTranspose2d`` — whose weight is (in, out, k, k) —
out_channels·k·k (PyTorch reads dimension 1 as the input maps; the public implementations above
inherit this, and so does every scheme here).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

InitName = Literal["torch", "kaiming_uniform", "kaiming_normal"]

#: the layer types a scheme re-initialises
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def fan_in(weight: torch.Tensor) -> int:
    """PyTorch's fan_in of a layer weight (see the module docstring for transposed convolutions)."""
    return weight.shape[1] * math.prod(weight.shape[2:])


@torch.no_grad()
def initialise(model: nn.Module, scheme: InitName) -> nn.Module:
    """Re-initialise ``model``'s layers in place with ``scheme`` (module order); returns ``model``."""
    if scheme == "torch":
        return model
    for layer in model.modules():
        if not isinstance(layer, LAYERS):
            continue
        if scheme == "kaiming_uniform":
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
        elif scheme == "kaiming_normal":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        else:  # pydantic validates the name; this guards direct callers
            raise ValueError(f"unknown init scheme {scheme!r}")
    return model
