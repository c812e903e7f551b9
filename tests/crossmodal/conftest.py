"""Tiny cross-modal data: 1 set × 2 voices × 50 rows, 64-px video, pseudo-speech (no extra needed)."""

from __future__ import annotations

import pytest

from betavae.data.audiovisual_generate import GenerationConfig, generate

TINY = GenerationConfig(n_sets=1, n_voices=2, img_size=64, speech="tones")


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    """Generated once per module into the session's test cache (the one the autouse fixture sets)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BETAVAE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        return generate(TINY)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread: the models are small, and on a shared 2-core machine two threads
    measured many times slower (spin-waiting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
