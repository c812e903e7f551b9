"""The GPU check (issue #19): one command that exercises every system's CUDA path and prints figures.

No GPU had ever run betavae's code when this was written. Run it first whenever a CUDA machine is
at hand; it finishes within about 8 minutes there and prints, check by check:

  - the device (name, compute capability, bf16 support, torch and CUDA versions);
  - dSprites: a short run of the shipped ``dsprites_quick`` config at each speed level (plain, fast,
    fastest): steps/s, images/s, peak GPU memory, the last logged loss;
  - dSprites seeds as one ensemble: 16 and 64 members against one model alone (steps/s and the
    ratio of member-steps/s to K runs one after another);
  - multimodal: 20 seeds of Langer's model as one batched ensemble at float64, float32 and bf16;
  - cross-modal: the two-modality β-VAE ensemble (9 members) at each speed level;
  - dSprites-VSA: a few swap-training steps of each stage (pd, sd, psd);
  - the metric suite (default preset) on 10,000 × 10 codes;
  - for every check, any error (one line, with its type), without stopping the others.

Every check runs in a fresh process (speed levels change process-wide settings; a CUDA fault in one
check must not take the others down) with its own time limit. On a machine without CUDA, or with
``--tiny``, every check runs a tiny version on the CPU (what the test suite runs), so the script is
known to work before it meets a GPU.

Usage: python bench/gpu_check.py [--tiny] [--only dsprites,multimodal,...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LEVELS = ("plain", "fast", "fastest")

# sizes: (GPU, tiny CPU)
SIZES = {
    "dsprites_steps": (300, 4), "dsprites_batch": (64, 8),
    "ensemble_members": ((16, 64), (2, 3)), "ensemble_steps": (100, 3),
    "mm_seeds": (20, 2), "mm_epochs": (30, 2),
    "cm_members": (9, 2), "cm_rows": (4096, 48), "cm_epochs": (3, 1),
    "vsa_steps": (50, 2), "vsa_batch": (64, 4),
    "metric_rows": (10_000, 600),
}


def size(name: str, tiny: bool) -> Any:
    return SIZES[name][1 if tiny else 0]


def device_name(tiny: bool) -> str:
    return "cpu" if tiny else "cuda"


def peak_memory_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


# ---------------------------------------------------------------- checks (each runs in its own process)


def check_env(tiny: bool) -> dict[str, Any]:
    import torch

    row: dict[str, Any] = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                           "cuda": torch.version.cuda, "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        row.update(name=props.name, capability=f"{props.major}.{props.minor}",
                   memory_gb=round(props.total_memory / 2**30, 1), bf16=torch.cuda.is_bf16_supported())
    return row


class Clock:
    """Step times (synchronised with the device), as a training callback."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_start(self, *args: Any) -> None: ...

    def on_log(self, row: dict[str, Any]) -> None: ...

    def on_checkpoint(self, step: int) -> None: ...

    def on_end(self, status: str) -> None: ...

    def on_step(self, step: int) -> None:
        sync()
        self.times.append(time.perf_counter())

    def steps_per_s(self) -> float | None:
        """Rate after a warm-up of a tenth of the steps (at least one)."""
        t = self.times
        warm = min(len(t) - 1, max(1, len(t) // 10))
        return (len(t) - 1 - warm) / (t[-1] - t[warm]) if len(t) > 2 else None


def dsprites_config(level: str, steps: int, batch: int, tiny: bool) -> Any:
    from betavae.config import load_config
    from betavae.shipped import resolve_config_path

    overrides = [f"train.steps={steps}", f"train.batch_size={batch}", f"train.speed={level}",
                 f"train.device={device_name(tiny)}", "train.report=false",
                 f"train.log_every={steps}", f"train.checkpoint_every={steps}"]
    return load_config(resolve_config_path("dsprites_quick"), overrides)


def check_dsprites(level: str, tiny: bool) -> dict[str, Any]:
    """The shipped dsprites_quick config through the library's train(), timed by a callback."""
    from betavae.experiments.run import train
    from betavae.experiments.rundir import read_metrics

    steps, batch = size("dsprites_steps", tiny), size("dsprites_batch", tiny)
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        run = train(dsprites_config(level, steps, batch, tiny), tmp, [clock])
        loss = read_metrics(run)[-1]["loss"]
    rate = clock.steps_per_s()
    return {"steps": steps, "batch": batch, "steps_per_s": rate, "images_per_s": rate and rate * batch,
            "loss": loss, "peak_mb": peak_memory_mb()}


def check_ensemble(tiny: bool) -> dict[str, Any]:
    """K dSprites seeds as one ensemble (``train_ensemble``) against one model alone, at ``fast``."""
    from betavae.experiments.run import train, train_ensemble
    from betavae.train.ensemble import seed_configs

    steps, batch = size("ensemble_steps", tiny), size("dsprites_batch", tiny)
    config = dsprites_config("fast", steps, batch, tiny)
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        train(config, tmp, [clock])
    single = clock.steps_per_s()
    out: dict[str, Any] = {"steps": steps, "batch": batch, "single_steps_per_s": single}
    for k in size("ensemble_members", tiny):
        clock = Clock()
        with tempfile.TemporaryDirectory() as tmp:
            train_ensemble(seed_configs(config, range(k)), tmp, [clock])
        rate = clock.steps_per_s()
        out[f"K={k}"] = {"steps_per_s": rate, "member_steps_per_s": rate and rate * k,
                         "ratio_to_one_after_another": rate and single and rate * k / single}
    out["peak_mb"] = peak_memory_mb()
    return out


def check_multimodal(precision: str, tiny: bool) -> dict[str, Any]:
    from betavae.config import build_config
    from betavae.multimodal.schedules import study_schedule
    from betavae.train.loop import Loop

    seeds, epochs = size("mm_seeds", tiny), size("mm_epochs", tiny)
    data = {"kind": "sensorimotor", **({"simulator": {"n_train": 300, "n_test": 100}} if tiny else {})}
    tree = {"name": "gpu", "data": data, "model": {"kind": "zambelli", "precision": precision},
            "objective": {"kind": "multimodal_elbo", "alpha": study_schedule("dyn_plateau0", epochs).model_dump()},
            "train": {"epochs": epochs, "batch_size": 200 if tiny else 1000, "lr": 1e-3, "log_every": 1,
                      "checkpoint_every": epochs, "device": device_name(tiny), "report": False}}
    loop = Loop([build_config(tree | {"seed": s}) for s in range(seeds)])
    last: dict[int, float] = {}
    start = time.perf_counter()
    loop.fit(lambda k, row: last.__setitem__(k, row["loss"]), lambda k, state: None)
    sync()
    seconds = time.perf_counter() - start
    return {"seeds": seeds, "epochs": epochs, "epochs_per_s": epochs / seconds,
            "member_epochs_per_s": seeds * epochs / seconds,
            "final_loss_mean": sum(last.values()) / len(last), "peak_mb": peak_memory_mb()}


def check_crossmodal(level: str, tiny: bool) -> dict[str, Any]:
    import numpy as np

    from betavae.crossmodal.train import VAESettings, train_vae

    m, rows, epochs = size("cm_members", tiny), size("cm_rows", tiny), size("cm_epochs", tiny)
    rng = np.random.default_rng(0)
    video = rng.standard_normal((rows, 30, 64)).astype(np.float32)
    audio = rng.standard_normal((rows, 30, 26)).astype(np.float32)
    split = rows * 7 // 8
    start = time.perf_counter()
    device = device_name(tiny)
    _, hist = train_vae(video, audio, np.arange(split), np.arange(split, rows), "separate",
                        [s % 9 + 1 for s in range(m)], list(range(m)),
                        VAESettings(epochs=epochs, speed=level, device=device))
    seconds = time.perf_counter() - start
    return {"members": m, "rows": rows, "epochs": epochs, "member_epochs_per_s": m * epochs / seconds,
            "device": device, "final_loss_mean": float(hist["loss"][-1].mean()), "peak_mb": peak_memory_mb()}


def check_vsa(tiny: bool) -> dict[str, Any]:
    from betavae.config import build_config
    from betavae.experiments.run import train
    from betavae.experiments.rundir import read_metrics

    out: dict[str, Any] = {}
    for stage, data in (("pd", "paired_dsprites"), ("sd", "scene_dsprites"), ("psd", "paired_scene_dsprites")):
        steps = size("vsa_steps", tiny)
        tree = {"name": f"vsa-{stage}", "data": {"kind": data}, "model": {"kind": "feature_vae"},
                "objective": {"kind": "vsa"},
                "train": {"steps": steps, "batch_size": size("vsa_batch", tiny), "log_every": steps,
                          "checkpoint_every": steps, "device": device_name(tiny), "report": False}}
        if tiny:
            tree["model"].update(latent_dim=16, hidden=32)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            row = read_metrics(train(build_config(tree), tmp))[-1]
            seconds = time.perf_counter() - start
        out[stage] = {"steps_per_s": steps / seconds, "loss": row["loss"]}
    out["peak_mb"] = peak_memory_mb()
    return out


def check_metrics(tiny: bool) -> dict[str, Any]:
    import numpy as np

    from betavae.metrics.suite import evaluate

    n = size("metric_rows", tiny)
    rng = np.random.default_rng(0)
    factors = rng.integers(0, [3, 6, 40, 32, 32], size=(n, 5))
    codes = np.concatenate([factors + 0.1 * rng.standard_normal((n, 5)), rng.standard_normal((n, 5))], 1)
    start = time.perf_counter()
    result = evaluate(codes, factors, preset="fast" if tiny else "default", seed=0)
    return {"rows": n, "seconds": time.perf_counter() - start,
            "mig": result["values"].get("mig"), "metrics": len(result["values"])}


CHECKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "env": check_env,
    **{f"dsprites:{lv}": (lambda tiny, lv=lv: check_dsprites(lv, tiny)) for lv in LEVELS},
    "ensemble": check_ensemble,
    **{f"multimodal:{p}": (lambda tiny, p=p: check_multimodal(p, tiny)) for p in ("float64", "float32", "bf16")},
    **{f"crossmodal:{lv}": (lambda tiny, lv=lv: check_crossmodal(lv, tiny)) for lv in LEVELS},
    "vsa": check_vsa,
    "metrics": check_metrics,
}
LIMITS_S = {"env": 60, "ensemble": 150, "metrics": 120}  # others: 60 s each on a GPU


# ---------------------------------------------------------------- driver


def run_one(name: str, tiny: bool) -> None:
    """Child process: run one check, print one RESULT line (its row, or the error)."""
    try:
        row = CHECKS[name](tiny)
    except Exception as exc:  # the check reports every failure and goes on
        row = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
               "where": traceback.format_exc().strip().splitlines()[-3:]}
    print("RESULT " + json.dumps(row, default=str))


def run_child(name: str, tiny: bool, limit: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", name] + (["--tiny"] if tiny else [])
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {limit:.0f} s"}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            row = json.loads(line[7:])
            row["wall_s"] = round(time.perf_counter() - start, 1)
            return row
    tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {out.returncode} without a result", "where": tail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny CPU versions (automatic without CUDA)")
    parser.add_argument("--only", default="", help="comma-separated check names or prefixes (dsprites,vsa,...)")
    parser.add_argument("--json", type=Path, help="also write every row to this JSON file")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one, args.tiny)
        return 0
    import torch

    tiny = args.tiny or not torch.cuda.is_available()
    wanted = [w for w in args.only.split(",") if w]
    names = [n for n in CHECKS if not wanted or any(n == w or n.startswith(w + ":") for w in wanted)]
    print(f"gpu_check: {'tiny CPU version' if tiny else 'CUDA'}; {len(names)} checks", flush=True)
    rows: dict[str, Any] = {}
    failures = 0
    for name in names:
        limit = LIMITS_S.get(name, 60) * (3 if tiny else 1)
        row = run_child(name, tiny, limit)
        rows[name] = row
        failures += "error" in row
        print(f"{name:22s} {json.dumps(row, default=str)}", flush=True)
    if args.json:
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(rows, indent=1, default=str))
        os.replace(tmp, args.json)
    print(f"gpu_check: {len(names) - failures} of {len(names)} checks ran without error", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
