"""Dead ReLUs: layers whose units are zero for every input, so no gradient passes them.

A ReLU unit that is negative before the activation for every input outputs 0 and passes a zero
gradient, so the weights before it stop learning from the data. When every unit of one encoder
layer is dead, the encoder's output no longer depends on its input at all and cannot learn to:
the posterior collapse is permanent (docs/studies/table1.md measured this on the β-VAE report's
capacity model). Lu et al. 2019 ("Dying ReLU and Initialization") analyse when it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ReluLayer:
    """One ``nn.ReLU`` of a module: its qualified name, its units per input and the fraction of
    them that were positive for at least one of the inputs (0.0: the whole layer is dead)."""

    name: str
    units: int
    alive: float


@torch.no_grad()
def relu_layers(module: nn.Module, run: Callable[[], object]) -> list[ReluLayer]:
    """Every ``nn.ReLU`` of ``module`` that ``run()`` calls, in call order, with the fraction of
    its units (features per input: channels × positions for a convolution) positive for at least
    one input of the batch ``run`` passes (e.g. ``lambda: model.encode(x)``, x (B, C, H, W)).

    Activations written with ``torch.nn.functional.relu`` are not seen (no module to hook).
    """
    seen: list[ReluLayer] = []
    names = {id(m): n for n, m in module.named_modules()}

    def hook(mod: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        flat = output.detach().flatten(1)
        seen.append(ReluLayer(names.get(id(mod), type(mod).__name__), flat.shape[1],
                              float((flat > 0).any(dim=0).float().mean())))

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.ReLU)]
    was_training = module.training
    module.eval()
    try:
        run()
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return seen


def dead_layers(layers: list[ReluLayer]) -> list[ReluLayer]:
    """The layers none of whose units was positive for any input."""
    return [layer for layer in layers if layer.alive == 0.0]
