"""Training speed levels (issue 8): betavae's `plain`, `fast`, `fastest` against a plain PyTorch β-VAE.

Prints, from one run on this machine:
  - steps/s of the two plain PyTorch loops of bench/plain_reference.py (eager fp32, default
    allocator): ``tensor`` (batches gathered from an in-memory tensor, no per-step sync: the
    fastest plain loop written there, the reference of the ratios) and ``dataloader`` (a
    DataLoader over a TensorDataset and ``loss.item()`` per step, as many public repositories
    write it), and of the full betavae training loop (rendering, schedules, logging, NaN checks)
    at each speed level, Burgess model, batch 64; each the median of --reps timed runs of
    --steps steps after --warmup steps, every run in a fresh process (the levels change
    process-wide settings), interleaved so that machine noise hits all variants alike; and the
    ratios to both references (targets, against the tensor reference: fast >= 1.5x,
    fastest >= 2.5x); and the tensor reference with betavae's glibc malloc tuning applied in
    its process (what a plain loop gets when it runs in the same process after a betavae run,
    as in a side-by-side script);
  - optional rows: --compile (fast/fastest with torch.compile forced on, with its start-up
    time), --allocators (reference and fastest with tcmalloc / jemalloc preloaded);
  - the final losses (mean of the last logged window of 100 steps) of `plain` and `fastest`
    trained for --loss-steps steps from the same seed, and their relative difference (<= 2 %).

Usage: python bench/bench_speed.py [--steps 200] [--reps 5] [--threads N] [--loss-steps 6000] [--compile] [--allocators]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REF, REF_DL = "plain reference (tensor)", "plain reference (DataLoader)"
REF_MALLOC = "reference (tensor) + malloc tuning"  # betavae's glibc tuning in the plain loop's process
LIBS = {"tcmalloc": "libtcmalloc_minimal.so.4", "jemalloc": "libjemalloc.so.2"}


def config_tree(level: str, steps: int, seed: int = 0) -> dict:
    """The benchmark's betavae config: Burgess, β = 4, batch 64 and lr 5e-4 (the shipped dSprites
    configs' values), log every 100 steps, checkpoint every 1000 (the defaults)."""
    return {"name": f"bench-{level}", "seed": seed, "model": {"kind": "burgess"},
            "objective": {"kind": "beta", "beta": 4},
            "train": {"steps": steps, "batch_size": 64, "lr": 5e-4, "log_every": 100,
                      "checkpoint_every": 1000, "report": False, "speed": level}}


# ---------------------------------------------------------------- workers (one per process)


def work_betavae(level: str, steps: int, warmup: int, force_compile: bool) -> dict:
    import torch

    from betavae.config import build_config
    from betavae.experiments.run import Trainer
    from betavae.experiments.rundir import create_run_dir, write_meta
    from betavae.train.callbacks import Callback

    class Clock(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step(self, step: int) -> None:
            self.times.append(time.perf_counter())

    cfg = build_config(config_tree(level, warmup + steps))
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = create_run_dir(cfg, tmp)
        write_meta(run_dir, status="created")
        start = time.perf_counter()
        trainer = Trainer(cfg, run_dir, [clock])
        warm_renderer(trainer.task.source)
        if force_compile:
            trainer.task.step_model = torch.compile(trainer.task.model)
        trainer.run(resume=False)
    t = clock.times
    return {"steps_per_s": steps / (t[-1] - t[warmup - 1]), "first_step_s": t[0] - start,
            "speed": trainer.speed.record()}


def warm_renderer(source) -> None:  # noqa: ANN001
    """Render every (shape, scale, orientation) once: the renderer builds its templates lazily
    (about 3 s on 2 cores), which would otherwise fall into the timed steps. The reference
    renders its image pool before timing too."""
    import numpy as np

    cells = np.stack(np.meshgrid(range(3), range(6), range(40), [0], [0], indexing="ij"), -1).reshape(-1, 5)
    source.observations(cells)


def work_reference(steps: int, warmup: int, loader: str) -> dict:
    sys.path.insert(0, str(HERE))
    from plain_reference import train

    return train(steps, warmup=warmup, loader=loader)


def worker(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    name = args.worker
    if name.startswith("reference-"):
        loader, _, extra = name.removeprefix("reference-").partition("+")
        if extra == "malloc":  # betavae's fast/fastest glibc tuning, process-wide, before any tensor
            from betavae.train.allocator import tune_glibc_malloc

            tune_glibc_malloc()
        result = work_reference(args.steps, args.warmup, loader)
    else:
        result = work_betavae(name.split("+")[0], args.steps, args.warmup, name.endswith("+compile"))
    print("RESULT " + json.dumps(result))


# ---------------------------------------------------------------- driver


def find_lib(soname: str) -> str | None:
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if Path(d, soname).exists():
            return str(Path(d, soname))
    return None


def run_worker(variant: str, steps: int, warmup: int, preload: str | None = None, threads: int | None = None) -> dict:
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = preload
    cmd = [sys.executable, __file__, "--worker", variant, "--steps", str(steps), "--warmup", str(warmup)]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{variant} failed:\n{out.stderr[-3000:]}")


def final_loss(level: str, steps: int) -> tuple[float, float]:
    """Mean loss of the last logged window (100 steps) and of the last ten windows."""
    code = ("import sys, tempfile; from betavae.config import build_config; "
            "from betavae.experiments.run import train; from betavae.experiments.rundir import read_metrics; "
            "sys.path.insert(0, sys.argv[1]); from bench_speed import config_tree; "
            "d = tempfile.mkdtemp(); run = train(build_config(config_tree(sys.argv[2], int(sys.argv[3]))), d); "
            "rows = read_metrics(run); print('LOSS', rows[-1]['loss'], sum(r['loss'] for r in rows[-10:]) / 10)")
    out = subprocess.run([sys.executable, "-c", code, str(HERE), level, str(steps)],
                         capture_output=True, text=True, check=True)
    last, last10 = (float(v) for v in [ln for ln in out.stdout.splitlines() if ln.startswith("LOSS")][0].split()[1:])
    return last, last10


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first (compilation too)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--loss-steps", type=int, default=6000, help="0 skips the loss comparison")
    parser.add_argument("--compile", action="store_true", help="add fast/fastest with torch.compile forced on")
    parser.add_argument("--allocators", action="store_true", help="add tcmalloc/jemalloc rows")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of every run (default: torch's, one per core; a loaded machine needs 1)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    variants: list[tuple[str, str, str | None]] = [  # (label, worker, LD_PRELOAD)
        (REF, "reference-tensor", None), (REF_DL, "reference-dataloader", None),
        (REF_MALLOC, "reference-tensor+malloc", None), ("betavae plain", "plain", None),
        ("betavae fast", "fast", None), ("betavae fastest", "fastest", None),
    ]
    if args.compile:
        variants += [("fast + compile", "fast+compile", None), ("fastest + compile", "fastest+compile", None)]
    if args.allocators:
        for name, so in LIBS.items():
            lib = find_lib(so)
            if lib:
                variants += [(f"reference + {name}", "reference-tensor", lib), (f"fastest + {name}", "fastest", lib)]
            else:
                print(f"({name} not installed: apt-get install {'libtcmalloc-minimal4' if name == 'tcmalloc' else 'libjemalloc2'})")

    load_before = uptime()
    results: dict[str, list[dict]] = {label: [] for label, _, _ in variants}
    for rep in range(args.reps):
        for label, name, preload in variants:
            results[label].append(run_worker(name, args.steps, args.warmup, preload, args.threads))
        line = ", ".join(f"{label} {r[-1]['steps_per_s']:.1f}" for label, r in results.items())
        print(f"  rep {rep + 1}/{args.reps}: {line}", file=sys.stderr, flush=True)

    import torch

    print(f"load before: {load_before}\nload after:  {uptime()}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.threads or torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"{args.reps} runs x {args.steps} steps after {args.warmup} warm-up, batch 64, Burgess")
    rates = {label: [r["steps_per_s"] for r in runs] for label, runs in results.items()}
    ref_med, ref_best = statistics.median(rates[REF]), max(rates[REF])
    dl_med, dl_best = statistics.median(rates[REF_DL]), max(rates[REF_DL])
    print(f"{'variant':36s} {'median':>7s} {'x ref':>6s} {'x DL':>6s} {'best':>7s} {'x ref':>6s} {'x DL':>6s}  "
          "runs (steps/s)")
    for label, _, _ in variants:
        med, best = statistics.median(rates[label]), max(rates[label])
        extra = ""
        if "compile" in label:
            extra = f"  first step after {statistics.median(r['first_step_s'] for r in results[label]):.1f} s"
        print(f"{label:36s} {med:7.2f} {med / ref_med:6.2f} {med / dl_med:6.2f} {best:7.2f} {best / ref_best:6.2f} "
              f"{best / dl_best:6.2f}  {', '.join(f'{v:.1f}' for v in rates[label])}{extra}")
    print(f"(x ref: against {REF}; x DL: against {REF_DL}; best = fastest of the runs, the least "
          "disturbed by other load on the machine; images/s = 64 x steps/s)")
    print("pairwise (run i of the variant / run i of the reference, the runs taken next to each other):")
    for label in ("betavae fast", "betavae fastest"):
        for ref in (REF, REF_DL, REF_MALLOC):
            pairs = [a / b for a, b in zip(rates[label], rates[ref], strict=True)]
            print(f"  {label} / {ref}: median {statistics.median(pairs):.2f} "
                  f"({', '.join(f'{v:.2f}' for v in pairs)})")
    for label in ("betavae fast", "betavae fastest"):
        print(f"{label} enabled: {', '.join(_enabled(results[label][0]['speed']))}")
    for label, target in {"betavae fast": 1.5, "betavae fastest": 2.5}.items():
        med = statistics.median(rates[label]) / ref_med
        best = max(rates[label]) / ref_best
        verdict = "met" if min(med, best) >= target else "NOT met"
        print(f"target {label} >= {target}x reference: {verdict} (median {med:.2f}x, best {best:.2f}x)")

    if args.loss_steps:
        (plain, plain10), (fastest, fastest10) = final_loss("plain", args.loss_steps), final_loss("fastest", args.loss_steps)
        rel, rel10 = abs(fastest - plain) / abs(plain), abs(fastest10 - plain10) / abs(plain10)
        print(f"final loss after {args.loss_steps} steps (seed 0; mean of the last logged window of 100 steps): "
              f"plain {plain:.3f}, fastest {fastest:.3f}, relative difference {100 * rel:.2f} % "
              f"(limit 2 %: {'ok' if rel <= 0.02 else 'EXCEEDED'}); over the last 1000 steps: plain {plain10:.3f}, "
              f"fastest {fastest10:.3f} ({100 * rel10:.2f} %)")


def _enabled(record: dict) -> list[str]:
    skip = {"level", "device", "notes", "applied", "allocator"}
    return [k if v is True else f"{k}={v}" for k, v in record.items() if k not in skip and v]


if __name__ == "__main__":
    main()
