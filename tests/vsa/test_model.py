"""Item memory, binding, the feature-vector VAE and its loss terms: known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from betavae.models.feature_vae import FeatureVAE, FeatureVAEConfig
from betavae.models.item_memory import ItemMemory, bind, unbind
from betavae.objectives.vsa import cosine_loss, image_loss, kl_divergence, swap_rows


@pytest.mark.parametrize("kind", ["bipolar", "gaussian", "hrr"])
def test_unbinding_a_superposition_recovers_the_bound_item(kind):
    mem = ItemMemory(1024, kind, seed=0)
    items, roles = mem.vectors[:5], mem.vectors[5:]
    s = bind(roles[0], items[2], kind) + bind(roles[1], items[4], kind)
    sims = mem.similarities(unbind(roles[0], s, kind))
    assert sims.argmax() == 2
    others = torch.cat([sims[:2], sims[3:]]).abs()
    assert sims[2] > 0.4 and others.max() < 0.15  # ≈ 1/√2 (bipolar, hrr) or ≈ 0.5 (gaussian) vs ≈ 0


def test_bipolar_unbinding_is_exact_and_hrr_is_circular_convolution():
    mem = ItemMemory(64, "bipolar", seed=1)
    x = torch.randn(64)
    assert torch.equal(unbind(mem.slots[0], bind(mem.slots[0], x)), x)
    a, b = torch.randn(8), torch.randn(8)
    direct = torch.tensor([sum(a[j] * b[(n - j) % 8] for j in range(8)) for n in range(8)])
    assert torch.allclose(bind(a, b, "hrr"), direct, atol=1e-5)


def test_memory_is_fixed_and_saved_as_buffers():
    m = FeatureVAE(FeatureVAEConfig(latent_dim=32, memory_seed=5), item_memory=True)
    assert "memory.vectors" in m.state_dict()
    assert all(p is not m.memory.vectors for p in m.parameters())
    again = FeatureVAE(FeatureVAEConfig(latent_dim=32, memory_seed=5), item_memory=True)
    assert torch.equal(m.memory.vectors, again.memory.vectors)
    assert set(m.memory.vectors.unique().tolist()) == {-1.0, 1.0}


def test_shapes_parameter_counts_and_object_sums():
    m = FeatureVAE(FeatureVAEConfig())
    assert sum(p.numel() for p in m.encoder.parameters()) == 3_009_472  # ≈ 3.0 M (spec §5.1)
    assert sum(p.numel() for p in m.decoder.parameters()) == 640_897  # ≈ 0.64 M
    small = FeatureVAE(FeatureVAEConfig(latent_dim=16, hidden=32), item_memory=True)
    mu, logvar = small.encode(torch.zeros(3, 1, 64, 64))
    assert mu.shape == logvar.shape == (3, 5, 16)
    assert small.decode(small.object(mu)).shape == (3, 1, 64, 64)
    v = torch.randn(2, 5, 16)
    assert torch.allclose(small.object(v), (small.memory.roles * v).sum(1))
    assert torch.allclose(FeatureVAE(FeatureVAEConfig(latent_dim=16, hidden=32)).object(v), v.sum(1))


def test_image_losses_known_values_and_reductions():
    logits, x = torch.zeros(2, 1, 64, 64), torch.ones(2, 1, 64, 64)
    assert image_loss(logits, x, "bce", "sum").item() == pytest.approx(4096 * math.log(2), rel=1e-5)
    assert image_loss(logits, x, "bce", "mean").item() == pytest.approx(math.log(2), rel=1e-5)
    assert image_loss(logits, x, "mse", "sum").item() == pytest.approx(4096 * 0.25)
    assert image_loss(logits, x, "mse", "mean").item() == pytest.approx(0.25)


def test_kl_and_cosine_terms():
    assert kl_divergence(torch.zeros(4, 5, 8), torch.zeros(4, 5, 8)).item() == 0.0
    assert kl_divergence(torch.ones(4, 5, 8), torch.zeros(4, 5, 8)).item() == pytest.approx(0.5 * 40)
    a = torch.randn(3, 5, 8)
    b = a.clone()
    k = torch.tensor([0, 2, 4])
    b[torch.arange(3), k] = -a[torch.arange(3), k]  # the changed row points the other way
    assert cosine_loss(a, b, k).item() == pytest.approx(0.0, abs=1e-6)
    assert cosine_loss(a, b, torch.tensor([-1, -1, -1])).item() == pytest.approx(2 / 5, abs=1e-5)
    assert cosine_loss(a, a, k, margin=0.5).item() == pytest.approx(0.5, abs=1e-5)


def test_swap_rows_exchanges_only_row_k():
    v1, v2 = torch.zeros(3, 5, 2), torch.ones(3, 5, 2)
    t1, t2 = swap_rows(v1, v2, torch.tensor([1, 4, -1]))
    expect = np.zeros((3, 5))
    expect[0, 1] = expect[1, 4] = 1
    assert np.array_equal(t1[..., 0].numpy(), expect) and np.array_equal(t2[..., 0].numpy(), 1 - expect)
