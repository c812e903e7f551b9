"""The vsa factor classifier's accuracy against training steps (issue #23; spec/dsprites-vsa.md §7.2).

Trains the classifier once with the given settings (default: today's defaults of
:class:`betavae.vsa.settings.ClassifierSettings`) through the one loop and, every --every steps,
measures every head's accuracy on --n-test clean held-out (test-split) images with the spec's
tolerances (:func:`betavae.vsa.classifier.ceiling`); ``--cache`` then caches it, as ``bvae eval``
would. Prints one table from this one run: step, the five heads, all five together, the lowest
head and whether it clears the 0.98 bar (:data:`~betavae.vsa.classifier.TRUST`), seconds per
training step and per measurement. With ``schedule=constant`` the row at step s is the classifier
an s-step training gives (the batches depend on the step only); with ``onecycle`` it is the
8,000-step schedule part-way through, not a shorter schedule. Usage:
  python bench/bench_vsa_classifier.py [--every 1000] [--threads 1] [--cache] [-s schedule=onecycle ...]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from betavae.config import DATA
from betavae.data.dsprites import FACTOR_NAMES
from betavae.vsa.classifier import TRUST, ceiling, store_classifier, train_classifier
from betavae.vsa.settings import eval_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1000, help="measure every this many steps")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", action="store_true", help="also cache the trained classifier (as bvae eval would)")
    ap.add_argument("-s", "--set", action="append", default=[], help="classifier setting key=value")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = eval_settings(overrides=[f"classifier.{s}" for s in args.set]).classifier
    data = DATA.get("paired_dsprites")()
    print(f"classifier {settings.model_dump()}  threads {args.threads}  load {os.getloadavg()[0]:.2f}")
    rows: list[tuple[int, dict[str, float], float, float]] = []
    clock = {"t": time.perf_counter(), "train": 0.0}

    def watch(step: int, model: torch.nn.Module) -> None:
        if step % args.every and step != settings.steps:
            return
        clock["train"] += time.perf_counter() - clock["t"]
        t0 = time.perf_counter()
        acc = ceiling(model, settings, data)
        model.train()
        rows.append((step, acc, clock["train"] / step, time.perf_counter() - t0))
        print(f"  step {step}: lowest head {min(acc[f'vsa.classifier.{n}'] for n in FACTOR_NAMES):.4f}", flush=True)
        clock["t"] = time.perf_counter()

    model = train_classifier(settings, data, watch=watch)
    if args.cache:
        store_classifier(model, settings, data)
    head = ["step", *FACTOR_NAMES, "all five", "lowest", f">= {TRUST}", "s/step", "eval s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for step, acc, per_step, eval_s in rows:
        heads = [acc[f"vsa.classifier.{n}"] for n in FACTOR_NAMES]
        cells = [str(step), *(f"{v:.4f}" for v in heads), f"{acc['vsa.classifier.full']:.4f}", f"{min(heads):.4f}",
                 "yes" if min(heads) >= TRUST else "no", f"{per_step:.3f}", f"{eval_s:.1f}"]
        print("| " + " | ".join(cells) + " |")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
