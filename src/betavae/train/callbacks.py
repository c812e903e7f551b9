"""Loop callbacks: the progress bar lives here, not in the library's computations."""

from __future__ import annotations

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
            self.bar.set_postfix(loss=f"{row['loss']:.2f}", kl=f"{row['kl']:.2f}",
                                 beta=f"{row['beta']:.3g}", refresh=False)

    def on_end(self, status: str) -> None:
        if self.bar is not None:
            self.bar.close()
