"""Loop callbacks: progress display lives here, not in the library's computations.

The command line picks: :class:`ProgressBar` on a terminal, :class:`ProgressLines` (one plain
line every so often) when output goes to a file, a pipe or CI; :class:`RunFolderLine` says where
the run is written as soon as training starts. They print through the ``echo`` they are given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm


class Callback:
    """Hooks the loop calls; all optional."""

    def on_start(self, run_dir: Any, start_step: int, total_steps: int) -> None: ...

    def on_step(self, step: int) -> None: ...

    def on_log(self, row: dict[str, Any]) -> None: ...

    def on_checkpoint(self, step: int) -> None: ...

    def on_end(self, status: str) -> None: ...


class ProgressBar(Callback):
    """A tqdm bar over steps; off when stderr is not a terminal (``disable=None``)."""

    def __init__(self, disable: bool | None = None) -> None:
        self.disable = disable
        self.bar: tqdm | None = None

    def on_start(self, run_dir: Any, start_step: int, total_steps: int) -> None:
        self.bar = tqdm(total=total_steps, initial=start_step, unit="step", disable=self.disable,
                        dynamic_ncols=True, desc="train")

    def on_step(self, step: int) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def on_log(self, row: dict[str, Any]) -> None:
        if self.bar is not None:
            shown = {"loss": ".2f", "kl": ".2f", "beta": ".3g"}  # those a task logs
            self.bar.set_postfix({k: f"{row[k]:{fmt}}" for k, fmt in shown.items() if k in row}, refresh=False)

    def on_end(self, status: str) -> None:
        if self.bar is not None:
            self.bar.close()


class RunFolderLine(Callback):
    """``run folder: PATH`` when training starts (so a long run's folder is known at once)."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    def on_start(self, run_dir: Any, start_step: int, total_steps: int) -> None:
        resumed = f" (resuming at step {start_step})" if start_step else ""
        for folder in run_dir if isinstance(run_dir, list) else [run_dir]:  # an ensemble: each member's
            self.echo(f"run folder: {folder}{resumed}")


class ProgressLines(Callback):
    """A plain progress line at the first logged step after every ``every_s`` seconds.

    ``step 1200/100000 (1%)  epoch 3  35.2 steps/s  loss 31.2  recon 25.1  kl 1.52  beta 4  34 s in,
    47 min left`` (``epoch`` where the rows count epochs); the rate and the time in count this
    session's steps only. ``every_s=0`` prints at every logged step.
    """

    def __init__(self, echo: Callable[[str], None], every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.echo, self.every_s, self.clock = echo, every_s, clock
        self.total = self.start_step = 0
        self.t0 = self.last = 0.0

    def on_start(self, run_dir: Any, start_step: int, total_steps: int) -> None:
        self.total, self.start_step = total_steps, start_step
        self.t0 = self.last = self.clock()

    def on_log(self, row: dict[str, Any]) -> None:
        now = self.clock()
        if now - self.last < self.every_s:
            return
        self.last = now
        step = int(row["step"])
        rate = (step - self.start_step) / (now - self.t0) if now > self.t0 else float("nan")
        left = (self.total - step) / rate if rate > 0 else float("nan")
        terms = "  ".join(f"{k} {row[k]:.4g}" for k in ("loss", "recon", "kl", "beta") if k in row)
        epoch = f"epoch {int(row['epoch'])}  " if "epoch" in row else ""
        self.echo(f"step {step}/{self.total} ({100 * step / self.total:.0f}%)  {epoch}{rate:.3g} steps/s  "
                  f"{terms}  {duration(now - self.t0)} in, {duration(left)} left")


def stderr_lines(label: str) -> Callable[[str], None]:
    """An ``echo`` for :class:`ProgressLines` in a sweep's worker process: ``label: line`` on
    the process's stderr (a local sweep's workers share the terminal or log file of ``bvae sweep``)."""
    import sys

    def echo(line: str) -> None:
        print(f"{label}: {line}", file=sys.stderr, flush=True)

    return echo


def duration(seconds: float) -> str:
    """``2 h 05 min``, ``3 min 20 s``, ``12 s`` (``?`` when unknown)."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
