"""Speed levels of training (``train.speed``): what each enables on a device, and how it is applied.

``plain``   eager fp32 with PyTorch defaults: bit-reproducible across runs on CPU.
``fast``    numerically equivalent to ``plain`` within float tolerance (the default). On CPU:
            channels-last memory format, the faster transposed-convolution kernels of
            :mod:`betavae.train.convt`, fused Adam, glibc malloc tuned to keep freed memory
            (no page faults per step), and denormal floats flushed to zero while training
            (:meth:`Speed.numerics`; values below 1.2e-38 become 0). On CUDA: channels-last, fused Adam, cuDNN autotuning,
            pinned host batches with asynchronous copies, and ``torch.compile`` of the model for
            runs of at least :data:`COMPILE_MIN_STEPS` steps.
``fastest`` ``fast`` plus bfloat16 autocast of the model's forward (CPU with native bf16
            instructions; CUDA: bf16 where supported, else fp16 with a gradient scaler) and
            TF32 matmuls on CUDA. Objectives always run in fp32 on fp32 copies of the outputs.

On CPU, ``torch.compile`` is used only by ``fastest`` with bf16 autocast, for runs of at least
:data:`COMPILE_MIN_STEPS` steps and when a C++ compiler is on PATH (inductor needs one): measured
on the 2-core reference machine it added ≈ 7 % there, gave nothing to ``fast`` (1.00×), and
costs ≈ 8 s of start-up per run (docs/speed.md has the figures).

A :class:`SpeedPlan` records exactly what a level enabled on a device (written to ``meta.json``);
a :class:`Speed` applies it: ``prepare_model``, ``adam``, ``batch``, ``forward``, ``backward``,
``step``. The training loop calls these and stays the same for every level and objective.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from betavae.train.allocator import glibc_malloc, preloaded_allocator, tune_glibc_malloc
from betavae.train.convt import accelerate_transposed_convs

log = logging.getLogger(__name__)

Level = Literal["plain", "fast", "fastest"]
LEVELS: tuple[str, ...] = ("plain", "fast", "fastest")

#: Runs shorter than this are not compiled (compilation takes ~8 s on CPU, about a minute on CUDA).
COMPILE_MIN_STEPS = 20_000


@dataclass(frozen=True)
class SpeedPlan:
    """What a speed level enables on one device type (all False/None for ``plain``)."""

    level: str = "plain"
    device: str = "cpu"
    channels_last: bool = False
    fast_deconv: bool = False
    inplace_relu: bool = False
    fused_adam: bool = False
    malloc_tuning: bool = False
    allocator: str = "default"
    flush_denormals: bool = False
    compile: bool = False
    autocast: str | None = None
    grad_scaler: bool = False
    tf32: bool = False
    cudnn_benchmark: bool = False
    pin_memory: bool = False
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record, e.g. for ``meta.json``."""
        d = dataclasses.asdict(self)
        d["notes"] = list(self.notes)
        return d

    def enabled(self) -> list[str]:
        """Names of the switches that are on, e.g. ``["channels_last", "autocast=bfloat16"]``."""
        out = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("level", "device", "notes", "allocator") or not v:
                continue
            out.append(f.name if v is True else f"{f.name}={v}")
        return out


def cpu_has_native_bf16() -> bool:
    """True if this CPU has bf16 dot-product instructions (AVX512-BF16 or AMX), where bf16 pays."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def plan_for(level: str, device: torch.device | str, steps: int | None = None) -> SpeedPlan:
    """The plan of ``level`` on ``device`` for a run of ``steps`` steps (compile needs many)."""
    if level not in LEVELS:
        raise ValueError(f"unknown speed level {level!r}; choose from {', '.join(LEVELS)}")
    kind = torch.device(device).type
    if level == "plain":
        return SpeedPlan(level=level, device=kind, allocator=preloaded_allocator() or "default")
    if kind == "cpu":
        return _cpu_plan(level, steps)
    if kind == "cuda":
        return _cuda_plan(level, steps)
    return SpeedPlan(level=level, device=kind, notes=(f"no speed-ups implemented for {kind}; runs as plain",))


def has_cxx_compiler() -> bool:
    """True if a C++ compiler that torch.compile's CPU backend can use is on PATH."""
    return any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++"))


def _cpu_plan(level: str, steps: int | None) -> SpeedPlan:
    notes = []
    preloaded = preloaded_allocator()
    tune = preloaded is None and glibc_malloc() is not None
    autocast = None
    if level == "fastest":
        if cpu_has_native_bf16():
            autocast = "bfloat16"
        else:
            notes.append("bf16 autocast skipped: this CPU has no native bf16 instructions")
    compile_ = autocast is not None and steps is not None and steps >= COMPILE_MIN_STEPS and has_cxx_compiler()
    if not compile_:
        notes.append("torch.compile off: on CPU only fastest+bf16 runs of >= "
                     f"{COMPILE_MIN_STEPS} steps with a C++ compiler gain from it")
    return SpeedPlan(
        level=level, device="cpu", channels_last=True, fast_deconv=True, inplace_relu=True, fused_adam=True,
        malloc_tuning=tune, allocator=preloaded or ("glibc, tuned" if tune else "default"), flush_denormals=True,
        compile=compile_, autocast=autocast, notes=tuple(notes),
    )


def _cuda_plan(level: str, steps: int | None) -> SpeedPlan:
    notes = []
    compile_ = steps is None or steps >= COMPILE_MIN_STEPS
    if not compile_:
        notes.append(f"torch.compile off: {steps} steps < {COMPILE_MIN_STEPS} (start-up would dominate)")
    autocast, scaler = None, False
    if level == "fastest":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            autocast = "bfloat16"
        else:
            autocast, scaler = "float16", True
    return SpeedPlan(
        level=level, device="cuda", channels_last=True, inplace_relu=True, fused_adam=True, compile=compile_,
        autocast=autocast, grad_scaler=scaler, tf32=level == "fastest", cudnn_benchmark=True,
        pin_memory=True, allocator=preloaded_allocator() or "default", notes=tuple(notes),
    )


# ---------------------------------------------------------------- applying a plan

_PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def inplace_relus(model: nn.Module) -> int:
    """Make ReLUs in place where that is always safe: directly after a linear or convolution layer
    in an ``nn.Sequential`` (whose backward needs its input, never its output). Returns the count.

    Saves one activation-sized allocation and write per layer; results are bit-identical.
    """
    count = 0
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        layers = list(seq)
        for prev, m in zip(layers[:-1], layers[1:], strict=True):
            if type(m) is nn.ReLU and not m.inplace and isinstance(prev, _PRODUCERS):
                m.inplace = True
                count += 1
    return count



def to_float32(tree: Any) -> Any:
    """Cast every floating tensor in a model output (tensor, dataclass, tuple, list, dict) to fp32."""
    if isinstance(tree, torch.Tensor):
        return tree.float() if tree.is_floating_point() else tree
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        return dataclasses.replace(tree, **{f.name: to_float32(getattr(tree, f.name)) for f in dataclasses.fields(tree)})
    if isinstance(tree, (tuple, list)):
        return type(tree)(to_float32(v) for v in tree)
    if isinstance(tree, dict):
        return {k: to_float32(v) for k, v in tree.items()}
    return tree


class Speed:
    """Applies a :class:`SpeedPlan` on a device; created once per training session.

    Process-wide switches (malloc tuning, TF32, cuDNN autotuning) are set on construction.
    """

    def __init__(self, plan: SpeedPlan, device: torch.device) -> None:
        self.plan, self.device = plan, torch.device(device)
        self.dtype = getattr(torch, plan.autocast) if plan.autocast else None
        self.scaler = torch.amp.GradScaler(self.device.type) if plan.grad_scaler else None
        self.applied: dict[str, Any] = {}
        if plan.malloc_tuning:
            self.applied["malloc_tuning"] = tune_glibc_malloc()
        if plan.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if plan.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True

    @contextlib.contextmanager
    def numerics(self) -> Iterator[None]:
        """Training's floating-point mode: with ``flush_denormals``, the CPU's flush-to-zero and
        denormals-are-zero flags (``torch.set_flush_denormal``) are on inside, off (PyTorch's
        default) after.

        Why: weight decay drives the weights of units that get no gradient towards 0 until they
        are denormal (< 1.2e-38), and every arithmetic operation on a denormal takes a slow
        microcode path on many x86 CPUs. Measured on a 2-core Intel Xeon (2026-12-05), a trained
        cross-modal β-VAE whose first video layer was 92 % denormal took 65 ms per step at
        ``fastest`` against 24.6 ms flushed (683 against 30 ms at ``fast``); fresh weights ran at
        the same speed either way (docs/speed.md). The flags belong to the calling thread: torch's
        other intra-op threads (``train.threads`` > 1) keep denormals.
        """
        if not self.plan.flush_denormals:
            yield
            return
        if not torch.set_flush_denormal(True):
            log.info("this CPU cannot flush denormals to zero; training keeps them")
        try:
            yield
        finally:
            torch.set_flush_denormal(False)

    def record(self) -> dict[str, Any]:
        """The plan plus what applying it reported (for ``meta.json``)."""
        return {**self.plan.as_dict(), "applied": dict(self.applied)}

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Convert ``model`` in place (memory format, kernels); return the module to call in steps.

        The returned module is ``model`` itself or its compiled wrapper; save and load state
        through ``model``, so state dicts never carry the compiled wrapper's ``_orig_mod.``
        prefix and weight files are the same at every level.
        """
        if self.plan.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.plan.fast_deconv:
            self.applied["fast_deconv_layers"] = accelerate_transposed_convs(model)
        if self.plan.inplace_relu:
            self.applied["inplace_relu_layers"] = inplace_relus(model)
        if self.plan.compile:
            return torch.compile(model)
        return model

    def adam(self, params: Iterable[nn.Parameter], **kwargs: Any) -> torch.optim.Adam:
        """``torch.optim.Adam(params, **kwargs)``, fused where the plan says so."""
        if self.plan.fused_adam:
            kwargs["fused"] = True
        return torch.optim.Adam(params, **kwargs)

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """Move a host batch to the device without a host sync (pinned + non_blocking on CUDA)."""
        if self.plan.pin_memory and x.device.type == "cpu" and self.device.type == "cuda":
            x = x.pin_memory()
        x = x.to(self.device, non_blocking=True)
        if self.plan.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context of the plan (a no-op context without autocast)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def forward(self, model: nn.Module, x: torch.Tensor) -> Any:
        """``model(x)`` under the plan's autocast; outputs come back as fp32 for the objective."""
        if self.dtype is None:
            return model(x)
        with self.autocast():
            out = model(x)
        return to_float32(out)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled when fp16 needs a gradient scaler."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, aux: torch.optim.Optimizer | None = None) -> None:
        """Optimiser step (and an objective's auxiliary optimiser's, if given). With a scaler and
        fused Adam the inf check stays on the device (no sync)."""
        if self.scaler is None:
            optimizer.step()
            if aux is not None:
                aux.step()
            return
        self.scaler.step(optimizer)
        if aux is not None:
            self.scaler.step(aux)
        self.scaler.update()

