"""Training batches keyed by (seed, step), rendered ahead on a background thread.

Batch ``t`` is ``source.observations(source.sample_factors(B, default_rng([seed, t])))``, so the
data order depends only on the seed and the step: a resumed run sees exactly the batches an
uninterrupted run would, with no data-loader state to save. NumPy and torch release the GIL in
their kernels, so rendering overlaps the model's step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import numpy as np
import torch

from betavae.data.base import GroundTruthData


def make_batch(source: GroundTruthData, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Batch for ``step``: (B, C, H, W) float32 in [0, 1]."""
    rng = np.random.default_rng([seed, step])
    obs = source.observations(source.sample_factors(batch_size, rng))
    x = torch.from_numpy(np.ascontiguousarray(obs)).to(torch.float32)
    return x if source.pixel_max == 1 else x.div_(source.pixel_max)


class BatchStream:
    """Iterate batches for steps ``start, start+1, ..., stop-1``, ``prefetch`` ahead (0 = inline)."""

    def __init__(
        self, source: GroundTruthData, batch_size: int, seed: int, start: int, stop: int, prefetch: int = 2
    ) -> None:
        self.source, self.batch_size, self.seed = source, batch_size, seed
        self.start, self.stop, self.prefetch = start, stop, prefetch
        self._queue: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _produce(self) -> None:
        try:
            for step in range(self.start, self.stop):
                if self._stop.is_set():
                    return
                item = make_batch(self.source, self.batch_size, self.seed, step)
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # hand the error to the consumer
            self._queue.put(exc)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.prefetch == 0:
            for step in range(self.start, self.stop):
                yield make_batch(self.source, self.batch_size, self.seed, step)
            return
        self._thread = threading.Thread(target=self._produce, name="betavae-batches", daemon=True)
        self._thread.start()
        try:
            for _ in range(self.start, self.stop):
                item = self._queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
