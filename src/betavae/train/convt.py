"""Faster CPU kernels for the 4×4, stride-2, padding-1 transposed convolutions of the conv decoders.

The Burgess and disentanglement_lib decoders upsample with ``ConvTranspose2d(k=4, s=2, p=1)``.
On CPU, oneDNN runs two parts of such a layer much slower than the same arithmetic written
another way (measured on the 2-core AMD EPYC reference machine, batch 64, see docs/speed.md):

- the weight gradient (oneDNN's ``deconvolution backward_weights``) is about 3× slower than the
  weight gradient of the *mirror* convolution. Since ``y = convT(x, W)`` is the adjoint of
  ``conv2d(·, W)``, ``dL/dW`` equals the weight gradient of ``conv2d(g, W)`` with output gradient
  ``x`` (``g = dL/dy``), and ``dL/dx = conv2d(g, W)``; both run on oneDNN's fast forward/weight
  kernels.
- the forward of a layer with few output channels (the last decoder layer, 32 → 1) is about 4×
  slower than a "sub-pixel" convolution: each of the four output phases ``(py, px)`` of a
  stride-2 transposed convolution is a 2×2 convolution of the input with a subset of the kernel
  taps, so one stride-1 ``conv2d`` with ``4·C_out`` outputs followed by an interleave gives the
  same result.

Both are exact reformulations (only the order of floating-point sums differs); parameters, their
names and the state dict are unchanged. :func:`accelerate_transposed_convs` switches eligible
layers of a model to :class:`FastConvTranspose2d` in place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Kernel tap used by output phase p (0/1) at window offset t (0/1) of the sub-pixel convolution.
_TAPS = ((3, 1), (2, 0))

#: Below this many output channels the forward uses the sub-pixel convolution.
SUBPIXEL_MAX_OUT = 8


def eligible(m: nn.Module) -> bool:
    """True for a ``ConvTranspose2d`` with kernel 4, stride 2, padding 1 (and nothing unusual)."""
    return (
        isinstance(m, nn.ConvTranspose2d)
        and tuple(m.kernel_size) == (4, 4)
        and tuple(m.stride) == (2, 2)
        and tuple(m.padding) == (1, 1)
        and tuple(m.output_padding) == (0, 0)
        and tuple(m.dilation) == (1, 1)
        and m.groups == 1
        and m.padding_mode == "zeros"
    )


def subpixel_conv_transpose(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``conv_transpose2d(x, w, b, stride=2, padding=1)`` for a 4×4 kernel, as a sub-pixel conv.

    x: (B, Ci, H, W); w: (Ci, Co, 4, 4); b: (Co,) or None -> (B, Co, 2H, 2W).
    Output pixel (2m + py, 2n + px) is a 2×2 convolution over input rows m + py - 1, m + py and
    columns n + px - 1, n + px with taps ``_TAPS[py]`` × ``_TAPS[px]``.
    """
    batch, ci, h, wd = x.shape
    co = w.shape[1]
    taps = torch.tensor(_TAPS, device=w.device)
    k = w[:, :, taps.view(2, 1, 2, 1), taps.view(1, 2, 1, 2)]  # (Ci, Co, py, px, ty, tx)
    k = k.permute(2, 3, 1, 0, 4, 5).reshape(4 * co, ci, 2, 2)
    z = F.conv2d(x, k, None if b is None else b.repeat(4), padding=1)  # (B, 4Co, H+1, W+1)
    z = z.view(batch, 2, 2, co, h + 1, wd + 1)
    rows = [torch.stack([z[:, py, px, :, py:py + h, px:px + wd] for px in (0, 1)], -1) for py in (0, 1)]
    return torch.stack(rows, 3).reshape(batch, co, 2 * h, 2 * wd)


class _ConvTranspose(torch.autograd.Function):
    """Forward by oneDNN's deconvolution or the sub-pixel conv; backward by the mirror conv."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, subpixel: bool) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        ctx.subpixel = subpixel
        if subpixel:
            return subpixel_conv_transpose(x, w, b)
        return F.conv_transpose2d(x, w, b, 2, 1)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # noqa: ANN001
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        bias_sizes = [w.shape[1]] if ctx.has_bias else None
        if ctx.subpixel:  # few output channels: oneDNN's own backward is the faster one here
            gx, gw, gb = torch.ops.aten.convolution_backward(
                g, x, w, bias_sizes, [2, 2], [1, 1], [1, 1], True, [0, 0], 1,
                [need_x, need_w, need_b and ctx.has_bias],
            )
            return gx, gw, gb, None
        gx = F.conv2d(g, w, None, 2, 1) if need_x else None
        gw = None
        if need_w:  # weight gradient of conv2d(g, w) with output gradient x
            gw = torch.ops.aten.convolution_backward(
                x, g, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False]
            )[1]
        gb = g.sum((0, 2, 3)) if need_b and ctx.has_bias else None
        return gx, gw, gb, None


def fast_conv_transpose(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``conv_transpose2d(x, w, b, 2, 1)`` (4×4 kernel) through the faster CPU kernels.

    Under autocast the inputs are cast to the autocast dtype first (as autocast would do for
    ``conv_transpose2d``); the casts are differentiable, so gradients reach fp32 parameters.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x, w = x.to(dtype), w.to(dtype)
        b = None if b is None else b.to(dtype)
    with torch.autocast(device, enabled=False):
        return _ConvTranspose.apply(x, w, b, w.shape[1] < SUBPIXEL_MAX_OUT)


class FastConvTranspose2d(nn.ConvTranspose2d):
    """A ``ConvTranspose2d(k=4, s=2, p=1)`` computed by :func:`fast_conv_transpose` (same parameters)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None:
            return super().forward(x, output_size)
        return fast_conv_transpose(x, self.weight, self.bias)


def accelerate_transposed_convs(model: nn.Module) -> int:
    """Switch every eligible ``ConvTranspose2d`` of ``model`` to :class:`FastConvTranspose2d`.

    The modules keep their identity, parameters, buffers and hooks (only their class changes),
    so optimisers, state dicts and weight files are unaffected. Returns the number switched.
    """
    count = 0
    for m in model.modules():
        if eligible(m) and type(m) is nn.ConvTranspose2d:
            m.__class__ = FastConvTranspose2d
            count += 1
    return count
