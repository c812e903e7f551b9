"""Steps to leave the collapsed phase (issue #22), per shipped dSprites config × model.init × seed.

A freshly initialised VAE first reconstructs every image as the mean image (≈ 560 nats per
dSprites image under the Bernoulli likelihood); it "leaves the collapsed phase" at the first
logged step whose reconstruction term (the ``recon`` column of metrics.jsonl: nats per image,
averaged over the ``--log-every`` steps before it) is below ``--threshold`` (400 nats). Each run
trains one shipped config on the built-in dSprites with the chosen ``model.init`` and seed, up to
``--budget`` steps, and stops as soon as it has left (so only step counts are measured, never
wall time, and the machine's load does not change the answer).

Resumable: each finished run writes ``<out>/results/<setting>--<init>--s<seed>.json``; runs with a
result are skipped, and a run folder left by an interrupted run is started afresh. The table
(per seed, median, range, ratio of medians torch / other init) is printed and written to
``<out>/table.md``.

Usage: python bench/bench_collapse.py [--out runs/bench-collapse] [--settings issue_g100,dsprites_capacity]
       [--inits torch,kaiming_uniform] [--seeds 0,1,2,3,4] [--budget 3000] [--log-every 50]
       [--jobs 2] [--speed fast] [--table-only]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

#: setting name -> (shipped config, extra overrides). issue_g100 is the setting of issue #22:
#: capacity objective, γ = 100, C 0 → 25 nats over 100k steps, lr 1e-3, batch 64, Burgess model.
SETTINGS: dict[str, tuple[str, list[str]]] = {
    "issue_g100": ("dsprites_capacity_g100", ["train.lr=0.001"]),
    "dsprites_capacity": ("dsprites_capacity", []),
    "dsprites_capacity_g100": ("dsprites_capacity_g100", []),
    "dsprites_quick": ("dsprites_quick", []),
    "dsprites_beta_h": ("dsprites_beta_h", []),
}


class Left(Exception):
    """Raised by :class:`StopBelow` to end a run once it has left the collapsed phase."""


def first_below(rows: list[dict[str, Any]], threshold: float, key: str = "recon") -> int | None:
    """The first logged step whose ``key`` is below ``threshold``; None if none is."""
    return next((int(r["step"]) for r in rows if r[key] < threshold), None)


def result_name(setting: str, init: str, seed: int) -> str:
    return f"{setting}--{init}--s{seed}"


def run_one(setting: str, init: str, seed: int, budget: int, log_every: int, threshold: float,
            speed: str, out: str) -> dict[str, Any]:
    """Train one (setting, init, seed) until it leaves or ``budget`` steps pass; write its result."""
    from betavae.config import load_config
    from betavae.experiments.run import Trainer
    from betavae.experiments.rundir import create_run_dir, write_meta
    from betavae.io import atomic_write_json
    from betavae.shipped import resolve_config_path
    from betavae.train.callbacks import Callback

    shipped, extra = SETTINGS[setting]
    overrides = [*extra, f"model.init={init}", f"seed={seed}", f"train.steps={budget}",
                 f"train.log_every={log_every}", f"train.checkpoint_every={budget}", "train.threads=1",
                 "train.report=false", f"train.speed={speed}", f"name={setting.replace('_', '-')}-{init}"]
    config = load_config(resolve_config_path(shipped), overrides)
    rows: list[dict[str, Any]] = []

    class StopBelow(Callback):
        def on_log(self, row: dict[str, Any]) -> None:
            rows.append({k: row[k] for k in ("step", "recon", "kl") if k in row})
            if row["recon"] < threshold:
                raise Left

    runs = Path(out) / "runs"
    stale = runs / config.run_id()
    if stale.exists():  # an interrupted run of this bench: start it again
        shutil.rmtree(stale)
    run_dir = create_run_dir(config, runs)
    write_meta(run_dir, status="created")
    try:
        Trainer(config, run_dir, [StopBelow()]).run(resume=False)
    except Left:
        pass
    result = {"setting": setting, "config": shipped, "overrides": extra, "init": init, "seed": seed,
              "budget": budget, "threshold": threshold, "log_every": log_every, "speed": speed,
              "left_at": first_below(rows, threshold), "steps_run": rows[-1]["step"] if rows else 0,
              "run": str(run_dir), "rows": rows}
    atomic_write_json(Path(out) / "results" / f"{result_name(setting, init, seed)}.json", result)
    return result


def diagnose(init: str, seed: int, config_name: str = "dsprites_capacity_g100", batch: int = 256) -> dict[str, float]:
    """Signal statistics of a freshly initialised model on one batch (why the init matters).

    mu_sd: sd of the posterior means over the batch (how much the code depends on the image),
    mean over latents; logit_sd_over_images: sd over the batch of the decoder logits given
    z = μ, mean over pixels; grad_enc / grad_dec: norms of the reconstruction term's gradient
    with respect to the first encoder layer's and the last decoder layer's weights.
    """
    import numpy as np
    import torch

    from betavae.config import load_config
    from betavae.shipped import resolve_config_path

    config = load_config(resolve_config_path(config_name), [f"model.init={init}", f"seed={seed}"])
    source = config.data.build()
    torch.manual_seed(seed)
    model = config.model.build(tuple(source.observation_shape))
    obs = source.observations(source.sample_factors(batch, np.random.default_rng(seed)))
    x = torch.from_numpy(np.ascontiguousarray(obs)).float() / source.pixel_max
    mu, logvar = model.encode(x)
    logits = model.decode(mu)
    recon = config.model.likelihood.nll(model(x).logits, x).mean()
    first = next(m for m in model.encoder.modules() if hasattr(m, "weight"))
    last = [m for m in model.decoder.modules() if hasattr(m, "weight")][-1]
    g_enc, g_dec = torch.autograd.grad(recon, [first.weight, last.weight])
    mu, logvar, logits, recon = mu.detach(), logvar.detach(), logits.detach(), recon.detach()
    return {"mu_sd": float(mu.std(0).mean()), "mu_abs_mean": float(mu.mean(0).abs().mean()),
            "logvar_mean": float(logvar.mean()), "logit_sd_over_images": float(logits.std(0).mean()),
            "logit_mean": float(logits.mean()), "recon": float(recon),
            "grad_enc": float(g_enc.norm()), "grad_dec": float(g_dec.norm())}


def load_results(out: str | Path) -> list[dict[str, Any]]:
    folder = Path(out) / "results"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _fmt(step: int | None, budget: int) -> str:
    return f">{budget}" if step is None else str(step)


def summarise(results: list[dict[str, Any]], baseline: str = "torch") -> list[dict[str, Any]]:
    """One row per (setting, init): steps per seed, median, range, and median(baseline) / median.

    A run that never left counts as ``budget`` in the median and range (shown as ``>budget``), so
    a median with such runs is a lower bound, and a ratio against it a bound too (``≥`` / ``≤``).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["setting"], r["init"]), []).append(r)
    medians: dict[tuple[str, str], float] = {}
    rows = []
    for (setting, init), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["seed"])
        budget = max(r["budget"] for r in rs)
        steps = [r["left_at"] if r["left_at"] is not None else budget for r in rs]
        censored = any(r["left_at"] is None for r in rs)
        median = statistics.median(steps)
        medians[(setting, init)] = median
        rows.append({"setting": setting, "init": init, "seeds": [r["seed"] for r in rs],
                     "steps": [r["left_at"] for r in rs], "budget": budget, "median": median,
                     "median_is_lower_bound": censored and median >= budget,
                     "left": sum(r["left_at"] is not None for r in rs), "min": min(steps), "max": max(steps)})
    bounded = {(r["setting"], r["init"]) for r in rows if r["median_is_lower_bound"]}
    for row in rows:
        base = medians.get((row["setting"], baseline))
        row["speedup"] = None if base is None or row["median"] == 0 else base / row["median"]
        # a censored baseline median makes the ratio a lower bound, a censored own median an upper one
        row["speedup_bound"] = ("≥" if (row["setting"], baseline) in bounded else "") + (
            "≤" if row["median_is_lower_bound"] else "")
    return rows


def format_table(rows: list[dict[str, Any]], baseline: str = "torch") -> str:
    """A Markdown table of :func:`summarise`'s rows."""
    lines = [f"| setting | init | steps to recon < threshold, per seed | left | median | range | "
             f"median {baseline} / median |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        per_seed = ", ".join(f"s{s}: {_fmt(v, r['budget'])}" for s, v in zip(r["seeds"], r["steps"], strict=True))
        median = f"{'≥' if r['median_is_lower_bound'] else ''}{r['median']:g}"
        bound = r["speedup_bound"] if r["init"] != baseline and len(r["speedup_bound"]) == 1 else ""
        speedup = "—" if r["speedup"] is None else f"{bound}{r['speedup']:.2f}×"
        all_left = r["left"] == len(r["seeds"])
        low = _fmt(r["min"] if r["left"] else None, r["budget"])
        span = f"{low}–{_fmt(r['max'] if all_left else None, r['budget'])}"
        lines.append(f"| {r['setting']} | {r['init']} | {per_seed} | {r['left']}/{len(r['seeds'])} | {median} | "
                     f"{span} | {speedup} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench-collapse")
    parser.add_argument("--settings", default="issue_g100,dsprites_capacity,dsprites_capacity_g100,"
                        "dsprites_quick,dsprites_beta_h", help=f"comma-separated, from {', '.join(SETTINGS)}")
    parser.add_argument("--inits", default="torch,kaiming_uniform")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--budget", type=int, default=3000, help="most steps per run")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=400.0, help="recon (nats per image) that counts as left")
    parser.add_argument("--speed", default="fast", choices=["plain", "fast", "fastest"])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (each on one thread)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the results so far")
    parser.add_argument("--diagnose", action="store_true",
                        help="print signal statistics at initialisation per init and seed, then stop")
    args = parser.parse_args(argv)
    if args.diagnose:
        for init in args.inits.split(","):
            for seed in args.seeds.split(","):
                stats = diagnose(init, int(seed))
                print(f"{init:16s} seed {seed}: " + "  ".join(f"{k} {v:.4g}" for k, v in stats.items()), flush=True)
        return
    settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    if args.budget % args.log_every:
        parser.error("--budget must be a multiple of --log-every")
    done = {result_name(r["setting"], r["init"], r["seed"]) for r in load_results(args.out)}
    # seed-major order within a setting, so a partial bench has both inits of its first seeds
    jobs = [(s, i, int(seed)) for s in settings for seed in args.seeds.split(",") for i in args.inits.split(",")
            if result_name(s, i, int(seed)) not in done]
    if not args.table_only and jobs:
        print(f"{len(jobs)} runs to do ({len(done)} done already), {args.jobs} at a time", flush=True)
        common = (args.budget, args.log_every, args.threshold, args.speed, args.out)
        if args.jobs == 1:  # in this process
            results = (run_one(*job, *common) for job in jobs)
        else:
            pool = ProcessPoolExecutor(max_workers=args.jobs)
            results = (f.result() for f in as_completed([pool.submit(run_one, *job, *common) for job in jobs]))
        for r in results:
            print(f"{r['setting']:24s} {r['init']:16s} seed {r['seed']}: left at {_fmt(r['left_at'], r['budget'])}",
                  flush=True)
        if args.jobs > 1:
            pool.shutdown()
    table = format_table(summarise(load_results(args.out)))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "table.md").write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
