"""The LSTM encoder–decoder translator (spec/crossmodal.md §10), in PyTorch, as a batched ensemble of M members.

Encoder LSTM(d_in → H) over the input sequence; its final (h, c) initialises the decoder LSTM;
a linear layer maps each decoder state to the output. The decoder's input per step
(``decoder_input``):

- ``zeros`` (default, the reference for one-step sequences, whose shifted teacher forcing leaves
  only zeros): it never sees the target.
- ``teacher`` (spec §10, for multi-step outputs): training feeds a zero start token, then the
  true previous step (teacher forcing); evaluation runs free, feeding its own previous output,
  and never sees the target.
- ``target`` (flaw F6, forensic only): the *true* target step is the input, in training and in
  evaluation, as in the second variant of the thesis's compositional notebook. The decoder is
  handed the answer; results are never evidence of translation. Keras parity: one bias per gate with forget bias 1,
Glorot-uniform input weights, orthogonal recurrent weights; the latent translator (8 → 8, H = 8,
one step) then has 1,160 parameters. The raw-feature baseline is the same model over 30 steps
(17 → 5 features).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from betavae.models.crossmodal import EnsLinear


class EnsLSTMCell(nn.Module):
    """M LSTM cells: x (M, B, d_in), (h, c) (M, B, H) → (h, c); gate order i, f, g, o."""

    def __init__(self, m: int, d_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        bound = math.sqrt(6.0 / (d_in + 4 * hidden))
        self.w_in = nn.Parameter(torch.empty(m, d_in, 4 * hidden).uniform_(-bound, bound))
        rec = torch.stack([torch.cat([nn.init.orthogonal_(torch.empty(hidden, hidden)) for _ in range(4)], 1)
                           for _ in range(m)])
        self.w_rec = nn.Parameter(rec)
        bias = torch.zeros(m, 1, 4 * hidden)
        bias[..., hidden:2 * hidden] = 1.0
        self.bias = nn.Parameter(bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates = torch.baddbmm(torch.baddbmm(self.bias, x, self.w_in), h, self.w_rec)
        i, f, g, o = gates.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


DECODER_INPUTS = ("zeros", "teacher", "target")


class Seq2Seq(nn.Module):
    """``forward(x (M, B, T_in, d_in), target (M, B, T_out, d_out) | None) -> (M, B, T_out, d_out)``;
    ``target`` is used by ``teacher`` in training mode and by ``target`` always."""

    def __init__(self, m: int, d_in: int = 8, d_out: int = 8, hidden: int = 8, steps_out: int = 1,
                 decoder_input: str = "zeros") -> None:
        super().__init__()
        if decoder_input not in DECODER_INPUTS:
            raise ValueError(f"decoder_input must be one of {DECODER_INPUTS}")
        self.m, self.d_out, self.hidden, self.steps_out = m, d_out, hidden, steps_out
        self.decoder_input = decoder_input
        self.encoder = EnsLSTMCell(m, d_in, hidden)
        self.decoder = EnsLSTMCell(m, d_out, hidden)
        self.out = EnsLinear(m, hidden, d_out)
        bound = math.sqrt(6.0 / (hidden + d_out))  # Glorot, as Keras' Dense
        with torch.no_grad():
            self.out.weight.uniform_(-bound, bound)
            self.out.bias.zero_()

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        m, b = x.shape[:2]
        h = c = x.new_zeros(m, b, self.hidden)
        for t in range(x.shape[2]):
            h, c = self.encoder(x[:, :, t], h, c)
        needs_target = self.decoder_input == "target" or (self.decoder_input == "teacher" and self.training)
        if needs_target and target is None:
            raise ValueError(f"decoder_input={self.decoder_input!r} needs the target here")
        step_in = x.new_zeros(m, b, self.d_out)  # the start token / the zeros input
        outs = []
        for t in range(self.steps_out):
            if self.decoder_input == "target":
                step_in = target[:, :, t]
            h, c = self.decoder(step_in, h, c)
            outs.append(self.out(h))
            if self.decoder_input == "teacher":
                step_in = target[:, :, t] if self.training else outs[-1]
        return torch.stack(outs, 2)


@torch.no_grad()
def translate(model: Seq2Seq, x: np.ndarray, target: np.ndarray | None = None, batch: int = 4096) -> np.ndarray:
    """(M, N, T_out, d_out) predictions for inputs (M, N, T_in, d_in) in evaluation mode; ``target``
    (M, N, T_out, d_out) is read only by the forensic ``decoder_input=target``."""
    model.eval()
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(target, dtype=torch.float32) if model.decoder_input == "target" else None
    return torch.cat([model(xt[:, i:i + batch], None if yt is None else yt[:, i:i + batch])
                      for i in range(0, xt.shape[1], batch)], 1).numpy()
