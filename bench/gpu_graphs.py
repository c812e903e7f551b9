"""How fast can one Burgess β-VAE step go on a GPU? Eager against a CUDA graph (issue #22, Table 1).

On an H200 the dSprites step is launch-bound: `dsprites_quick` at batch 64 trained 142.7 steps/s
through the loop at `plain`, and Table 1's 9-member ensemble 39 steps/s, so 100,000 steps of Table 1
take ≈ 43 minutes there (docs/studies/table1.md). A CUDA graph replays a captured step (forward,
objective, backward, Adam) as one launch, removing the Python and launch overhead. This script
measures the ceiling that would give, before any graph path is built into the loop:

  - ``eager``: the bare step (forward + objective + backward + Adam) on prepared device batches,
    PyTorch's Adam (foreach), as the loop's ``plain`` level runs it;
  - ``eager-capturable``: the same with ``Adam(capturable=True)`` (what a graph needs);
  - ``graph``: that step captured once with ``torch.cuda.graph`` and replayed, a new batch copied
    into the static input before each replay (CUDA only).

Each variant starts from the same initial weights and runs ``--steps`` timed steps after
``--warmup``; it prints steps/s, the ratio to ``eager`` and the mean loss of the last 50 steps (the
reparameterisation noise differs between variants, so the losses agree only statistically).
``--config`` is ``quick`` (dsprites_quick: Bernoulli decoder, β = 4) or ``table1`` (Table 1's
Gaussian decoder, σ = 1/√2, identity link, with its capacity arm at C = 0, γ = 100: the objective of the first
steps). Hyperparameters are fixed at their step-0 values inside the captured step; a loop-level
graph path would have to feed β and C_t in as device tensors.

Usage: python bench/gpu_graphs.py [--device cuda] [--config quick|table1] [--steps 2000] [--warmup 50]
       [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import torch

#: name -> (shipped config, dotted settings on top): the benchmark's two models
CONFIGS = {
    "quick": ("dsprites_quick", {}),
    "table1": ("dsprites_vae", {"model.likelihood": {"kind": "gaussian", "sigma": 0.5 ** 0.5, "link": "identity"},
                                "objective": {"kind": "capacity", "gamma": 100,
                                              "capacity": {"kind": "capacity", "c0": 0, "c_max": 30, "length": 100000}},
                                "train.lr": 5e-4}),
}


def build(config: str, device: torch.device, n_batches: int) -> tuple[Any, Any, Any, list[torch.Tensor], dict]:
    """(config, model, objective, device batches (n_batches of them), step-0 hyperparameters)."""
    from betavae.config import build_config, read_yaml, set_dotted
    from betavae.shipped import resolve_config_path
    from betavae.train.batches import make_batch

    name, settings = CONFIGS[config]
    tree = read_yaml(resolve_config_path(name))
    for key, value in {**settings, "train.speed": "plain"}.items():
        set_dotted(tree, key, value)
    cfg = build_config(tree)
    source = cfg.data.build()
    torch.manual_seed(0)
    model = cfg.model.build(source.observation_shape).to(device)
    objective = cfg.objective.build(cfg.model.likelihood, cfg.model.latent_dim)
    batches = [make_batch(source, cfg.train.batch_size, 0, i).to(device) for i in range(n_batches)]
    return cfg, model, objective, batches, objective.hyper(0, 0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_eager(model: Any, objective: Any, batches: list[torch.Tensor], hyper: dict, lr: float, steps: int,
              warmup: int, capturable: bool, device: torch.device) -> dict[str, float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr, capturable=capturable)
    losses = []
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        x = batches[i % len(batches)]
        loss = objective(model(x), x, hyper)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup + steps - 50:
            losses.append(loss.detach())
    sync(device)
    seconds = time.perf_counter() - start
    return {"steps_per_s": steps / seconds, "last50_loss": float(torch.stack(losses).mean())}


def run_graph(model: Any, objective: Any, batches: list[torch.Tensor], hyper: dict, lr: float, steps: int,
              warmup: int) -> dict[str, float]:
    """The step captured once (after 3 eager steps on a side stream, as PyTorch's docs prescribe for
    whole-network capture) and replayed with each batch copied into the static input."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, capturable=True)
    static_x = batches[0].clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            objective(model(static_x), static_x, hyper)["loss"].backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = objective(model(static_x), static_x, hyper)["loss"]
        static_loss.backward()
        opt.step()
    losses = []
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            torch.cuda.synchronize()
            start = time.perf_counter()
        static_x.copy_(batches[i % len(batches)])
        graph.replay()
        if i >= warmup + steps - 50:
            losses.append(static_loss.detach().clone())
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"steps_per_s": steps / seconds, "last50_loss": float(torch.stack(losses).mean())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="quick")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--batches", type=int, default=16, help="prepared device batches, used in turn")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}, but CUDA is not available here (use --device cpu for the eager step)")
    if args.steps < 1 or args.warmup < 0 or args.batches < 1:
        ap.error("--steps and --batches must be ≥ 1 and --warmup ≥ 0")
    device = torch.device(args.device)
    cfg, model, objective, batches, hyper = build(args.config, device, args.batches)
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"{args.config} on {name} ({device}), batch {cfg.train.batch_size}, lr {cfg.train.lr}, "
          f"{args.steps} timed steps after {args.warmup}; torch {torch.__version__}")
    out: dict[str, Any] = {"config": args.config, "device": name, "steps": args.steps, "torch": torch.__version__}
    variants = [("eager", False), ("eager-capturable", True), ("graph", None)]
    for label, capturable in variants:
        model.load_state_dict(init)
        torch.manual_seed(1)
        try:
            if capturable is not False and device.type != "cuda":  # capturable Adam and graphs are GPU-only
                out[label] = {"skipped": "needs CUDA"}
                print(f"  {label:17s} skipped: needs CUDA")
                continue
            if capturable is None:
                row = run_graph(model, objective, batches, hyper, cfg.train.lr, args.steps, args.warmup)
            else:
                row = run_eager(model, objective, batches, hyper, cfg.train.lr, args.steps, args.warmup,
                                capturable, device)
        except Exception as err:  # a capture that fails is a finding, not a crash of the whole check
            out[label] = {"error": f"{type(err).__name__}: {err}"[:500]}
            print(f"  {label:17s} failed: {out[label]['error']}")
            continue
        out[label] = row
        base = out["eager"].get("steps_per_s")
        row["vs_eager"] = row["steps_per_s"] / base if base else float("nan")
        print(f"  {label:17s} {row['steps_per_s']:9.1f} steps/s  ×{row['vs_eager']:.2f} eager  "
              f"loss (last 50) {row['last50_loss']:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
