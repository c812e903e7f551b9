"""Speed levels (issue 8): plans, the faster kernels, numerical equivalence, runs, meta, weights, resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from betavae.config import build_config
from betavae.experiments.run import resume, train
from betavae.experiments.rundir import read_metrics
from betavae.train import loop as loop_module
from betavae.train import speed as speed_module
from betavae.train.convt import FastConvTranspose2d, accelerate_transposed_convs
from betavae.train.speed import (
    COMPILE_MIN_STEPS,
    LEVELS,
    Speed,
    SpeedPlan,
    inplace_relus,
    plan_for,
    to_float32,
)
from betavae.train.tasks import image as image_task_module

from ..conftest import tiny_tree

CPU = torch.device("cpu")


def model_and_objective(seed: int = 0, latent_dim: int = 4):
    cfg = build_config({"model": {"kind": "burgess", "latent_dim": latent_dim}, "objective": {"kind": "beta", "beta": 4}})
    torch.manual_seed(seed)
    model = cfg.model.build((1, 64, 64))
    return model, cfg.objective.build(cfg.model.likelihood, latent_dim)


def fixed_batch(n: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (torch.rand(n, 1, 64, 64, generator=g) > 0.85).float()


def loss_and_grads(level_or_plan: str | SpeedPlan, x: torch.Tensor) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss and parameter gradients of one step of a fresh model (seed 0) with fixed noise."""
    model, objective = model_and_objective()
    plan = plan_for(level_or_plan, CPU) if isinstance(level_or_plan, str) else level_or_plan
    speed = Speed(plan, CPU)
    step_model = speed.prepare_model(model)
    torch.manual_seed(5)  # the reparameterisation noise
    out = speed.forward(step_model, speed.batch(x))
    loss = objective(out, x, objective.hyper(0, 0))["loss"]
    speed.backward(loss)
    return loss.item(), {k: p.grad.detach().clone() for k, p in model.named_parameters()}


# ---------------------------------------------------------------- plans


def test_plans_per_level_on_cpu():
    plain, fast, fastest = (plan_for(level, "cpu") for level in LEVELS)
    assert plain.enabled() == [] and plain.as_dict()["level"] == "plain"
    assert {"channels_last", "fast_deconv", "fused_adam", "inplace_relu"} <= set(fast.enabled())
    assert fast.autocast is None and not fast.compile
    assert fast.flush_denormals and fastest.flush_denormals and not plain.flush_denormals
    assert set(fast.enabled()) <= set(fastest.enabled()) | {"autocast=bfloat16"}
    json.dumps(fastest.as_dict())
    with pytest.raises(ValueError, match="unknown speed level"):
        plan_for("ludicrous", "cpu")


@pytest.mark.parametrize(("bf16", "cxx", "steps", "compiled"), [
    (True, True, COMPILE_MIN_STEPS, True), (True, True, COMPILE_MIN_STEPS - 1, False),
    (True, False, COMPILE_MIN_STEPS, False), (False, True, COMPILE_MIN_STEPS, False), (True, True, None, False),
])
def test_cpu_compiles_only_long_bf16_runs_with_a_compiler(monkeypatch, bf16, cxx, steps, compiled):
    monkeypatch.setattr(speed_module, "cpu_has_native_bf16", lambda: bf16)
    monkeypatch.setattr(speed_module, "has_cxx_compiler", lambda: cxx)
    assert plan_for("fastest", "cpu", steps).compile is compiled
    assert not plan_for("fast", "cpu", COMPILE_MIN_STEPS).compile  # measured no gain there
    assert ("torch.compile off" in " ".join(plan_for("fastest", "cpu", steps).notes)) is not compiled


@pytest.mark.parametrize("bf16", [True, False])
def test_cuda_plan_logic(monkeypatch, bf16):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    fastest = plan_for("fastest", "cuda", steps=COMPILE_MIN_STEPS)
    assert fastest.autocast == ("bfloat16" if bf16 else "float16") and fastest.grad_scaler is not bf16
    assert fastest.compile and fastest.pin_memory and fastest.fused_adam and fastest.tf32
    fast = plan_for("fast", "cuda", steps=COMPILE_MIN_STEPS - 1)
    assert not fast.compile and fast.autocast is None and not fast.tf32 and "torch.compile off" in fast.notes[0]


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize("out_channels", [32, 1])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_conv_transpose_matches_conv_transpose(out_channels, channels_last):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(16, out_channels, 4, 2, 1)
    fast = nn.ConvTranspose2d(16, out_channels, 4, 2, 1)
    fast.load_state_dict(ref.state_dict())
    assert accelerate_transposed_convs(nn.Sequential(fast)) == 1 and isinstance(fast, FastConvTranspose2d)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x0 = torch.randn(4, 16, 8, 8).contiguous(memory_format=fmt)
    results = []
    for m in (ref, fast):
        x = x0.clone().requires_grad_()
        y = m(x)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        results.append([y, x.grad, m.weight.grad, m.bias.grad])
    for a, b in zip(*results, strict=True):
        # oneDNN's own bias gradient is the less accurate one (checked against float64)
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * a.abs().max().item())
    assert list(fast.state_dict()) == ["weight", "bias"]


def test_only_eligible_layers_are_switched_and_relus_only_after_producers():
    model = nn.Sequential(nn.ConvTranspose2d(4, 4, 3, 2, 1), nn.ReLU(), nn.ConvTranspose2d(4, 4, 4, 2, 1),
                          nn.Sigmoid(), nn.ReLU())
    assert accelerate_transposed_convs(model) == 1
    assert type(model[0]) is nn.ConvTranspose2d and type(model[2]) is FastConvTranspose2d
    assert inplace_relus(model) == 1 and model[1].inplace and not model[4].inplace


def test_to_float32_casts_dataclass_outputs():
    model, _ = model_and_objective()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(fixed_batch(2))
    assert out.logits.dtype == torch.bfloat16
    assert all(t.dtype == torch.float32 for t in vars(to_float32(out)).values())


# ---------------------------------------------------------------- numerics on a fixed batch


def test_fast_matches_plain_on_a_fixed_batch():
    x = fixed_batch()
    loss_plain, grads_plain = loss_and_grads("plain", x)
    loss_fast, grads_fast = loss_and_grads("fast", x)
    assert loss_fast == pytest.approx(loss_plain, rel=1e-5)
    for k, g in grads_plain.items():
        torch.testing.assert_close(grads_fast[k], g, rtol=1e-4, atol=1e-4 * g.abs().max().item(), msg=k)


def test_fastest_is_close_to_plain_on_a_fixed_batch():
    x = fixed_batch()
    loss_plain, grads_plain = loss_and_grads("plain", x)
    loss_fastest, grads_fastest = loss_and_grads("fastest", x)
    assert loss_fastest == pytest.approx(loss_plain, rel=0.01)
    for k, g in grads_plain.items():
        cos = nn.functional.cosine_similarity(grads_fastest[k].flatten(), g.flatten(), dim=0)
        assert cos > 0.98, k


def test_fp16_with_grad_scaler_path_runs_on_cpu():
    """The CUDA fp16 path (scaled backward, fused Adam without a host sync), exercised on CPU."""
    plan = SpeedPlan(level="fastest", device="cpu", autocast="float16", grad_scaler=True, fused_adam=True)
    model, objective = model_and_objective()
    speed = Speed(plan, CPU)
    step_model = speed.prepare_model(model)
    opt = speed.adam(model.parameters(), lr=1e-3)
    x = fixed_batch()
    scales = []
    for _ in range(3):
        loss = objective(speed.forward(step_model, speed.batch(x)), x, objective.hyper(0, 0))["loss"]
        opt.zero_grad()
        speed.backward(loss)
        speed.step(opt)
        scales.append(speed.scaler.get_scale())
    assert all(torch.isfinite(p).all() for p in model.parameters()) and len(set(scales)) >= 1


# ---------------------------------------------------------------- training runs


def run_level(tmp_path, level: str, **train_opts):
    return train(build_config(tiny_tree(speed=level, **train_opts)), tmp_path / level)


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_trains_loss_falls_and_meta_records_it(tmp_path, level):
    run = run_level(tmp_path, level, steps=24, batch_size=16, log_every=4, checkpoint_every=24)
    rows = read_metrics(run)
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]
    meta = json.loads((run / "meta.json").read_text())
    speed = meta["sessions"][-1]["speed"]
    assert meta["speed"]["level"] == speed["level"] == level and speed["device"] == "cpu"
    assert speed == {**plan_for(level, "cpu").as_dict(), "applied": speed["applied"]}
    if level != "plain":
        assert speed["applied"]["fast_deconv_layers"] == 4 and speed["applied"]["inplace_relu_layers"] == 12


def test_plain_is_bit_reproducible(tmp_path):
    a = train(build_config(tiny_tree(steps=6)), tmp_path / "a")
    b = train(build_config(tiny_tree(steps=6)), tmp_path / "b")
    wa, wb = load_file(a / "weights.safetensors"), load_file(b / "weights.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_fast_weights_load_into_a_plain_model_and_resume_works(tmp_path):
    full = run_level(tmp_path / "full", "fast")
    plain = run_level(tmp_path, "plain")
    w_fast, w_plain = load_file(full / "weights.safetensors"), load_file(plain / "weights.safetensors")
    assert w_fast.keys() == w_plain.keys()
    model, _ = model_and_objective()
    model.load_state_dict(w_fast)  # strict: same names, shapes
    assert type(model.decoder[-1]) is nn.ConvTranspose2d

    class CrashAt(loop_module.Callback):
        def on_step(self, step: int) -> None:
            if step == 7:
                raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        train(build_config(tiny_tree(speed="fast")), tmp_path / "crash", callbacks=[CrashAt()])
    run = tmp_path / "crash" / full.name
    resume(run)
    w_resumed = load_file(run / "weights.safetensors")
    assert all(torch.equal(w_resumed[k], v) for k, v in w_fast.items())  # exact (one thread)


@pytest.mark.slow
def test_compiled_model_saves_and_resumes_without_prefixes(tmp_path, monkeypatch):
    """Compile (the CUDA default, forced here on CPU) keeps state dicts and weight files plain."""
    compiled_plan = SpeedPlan(level="fast", device="cpu", channels_last=True, compile=True)
    monkeypatch.setattr(image_task_module, "plan_for", lambda *a, **k: compiled_plan)
    cfg = build_config(tiny_tree(speed="fast", steps=4, checkpoint_every=2))

    class CrashAt(loop_module.Callback):
        def on_step(self, step: int) -> None:
            if step == 3:
                raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        train(cfg, tmp_path, callbacks=[CrashAt()])
    run = tmp_path / cfg.run_id()
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == 2 and not any(k.startswith("_orig_mod") for k in state["model"])
    resume(run)
    weights = load_file(run / "weights.safetensors")
    assert not any(k.startswith("_orig_mod") for k in weights)
    model, _ = model_and_objective()
    model.load_state_dict({k: v for k, v in weights.items() if not k.startswith("objective.")})
    assert json.loads((run / "meta.json").read_text())["speed"]["compile"] is True


# ---------------------------------------------------------------- allocator


def test_allocator_reexec_sets_ld_preload_once(monkeypatch, tmp_path):
    from betavae.errors import BetavaeError
    from betavae.train import allocator

    lib = tmp_path / "libtcmalloc_minimal.so.4"
    lib.write_bytes(b"")
    monkeypatch.setattr(allocator, "_LIB_DIRS", (str(tmp_path),))
    monkeypatch.setattr(allocator, "preloaded_allocator", lambda: None)
    calls = []
    monkeypatch.setattr(allocator.os, "execve", lambda exe, args, env: calls.append((args, env)))
    monkeypatch.delenv(allocator._REEXEC_MARK, raising=False)
    monkeypatch.setenv("BETAVAE_ALLOCATOR", "none")
    allocator.reexec_with_allocator(["ls"])
    assert calls == []
    monkeypatch.setenv("BETAVAE_ALLOCATOR", "tcmalloc")
    allocator.reexec_with_allocator(["ls"])
    (args, env), = calls
    assert args[1:] == ["-m", "betavae.cli", "ls"]
    assert env["LD_PRELOAD"].startswith(str(lib)) and env[allocator._REEXEC_MARK] == "1"
    monkeypatch.setenv(allocator._REEXEC_MARK, "1")  # a second time never loops
    allocator.reexec_with_allocator(["ls"])
    assert len(calls) == 1
    monkeypatch.delenv(allocator._REEXEC_MARK)
    monkeypatch.setenv("BETAVAE_ALLOCATOR", "jemalloc")
    with pytest.raises(BetavaeError, match="apt-get install libjemalloc2"):
        allocator.reexec_with_allocator(["ls"])
    monkeypatch.setenv("BETAVAE_ALLOCATOR", "mimalloc")
    with pytest.raises(BetavaeError, match="not known"):
        allocator.reexec_with_allocator(["ls"])


# ---------------------------------------------------------------- denormals


def _denormal_product() -> float:
    """1e-30 · 1e-10 = 1e-40 in float32: a denormal, or 0 when flush-to-zero is on."""
    return (torch.tensor([1e-30]) * torch.tensor([1e-10])).item()


def test_numerics_flushes_denormals_inside_only_at_fast_levels():
    assert _denormal_product() == pytest.approx(1e-40, rel=1e-3)
    with Speed(plan_for("fast", "cpu"), torch.device("cpu")).numerics():
        assert _denormal_product() == 0.0
    assert _denormal_product() == pytest.approx(1e-40, rel=1e-3)  # restored
    with Speed(plan_for("plain", "cpu"), torch.device("cpu")).numerics():
        assert _denormal_product() == pytest.approx(1e-40, rel=1e-3)


@pytest.mark.parametrize(("level", "flushed"), [("plain", False), ("fast", True)])
def test_training_flushes_denormals_at_fast_not_plain(tmp_path, level, flushed):
    seen = []

    class Probe(loop_module.Callback):
        def on_step(self, step: int) -> None:
            seen.append(_denormal_product())

    run = train(build_config(tiny_tree(speed=level, steps=3)), tmp_path, callbacks=[Probe()])
    assert len(seen) == 3 and all((v == 0.0) == flushed for v in seen)
    assert _denormal_product() != 0.0  # the process is left as it was
    assert json.loads((run / "meta.json").read_text())["speed"]["flush_denormals"] == flushed  # recorded
