"""Latent traversals: exact codes, KL order, grid layout, files."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from betavae.errors import BetavaeError
from betavae.viz.traverse import (
    VALUES,
    PosteriorBatch,
    grid_cells,
    kl_order,
    posterior_batch,
    traversal_codes,
    traverse,
    write_traversal_files,
    write_traversals,
)

D, H = 4, 6


class RecordingDecoder:
    """Records every code it decodes; image pixel (0, j) holds z_j / 10 + 0.5, the rest 0."""

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def __call__(self, z: np.ndarray) -> np.ndarray:
        self.calls.append(np.array(z, copy=True))
        out = np.zeros((len(z), 1, H, H), np.float32)
        out[:, 0, 0, : z.shape[1]] = z / 10 + 0.5
        return out


def known_batch(n: int = 50) -> PosteriorBatch:
    """Posterior spread (hence KL) by latent: z1 > z3 > z0 > z2 (z2 is exactly the prior: KL 0)."""
    rng = np.random.default_rng(0)
    scale = np.array([0.5, 2.0, 0.0, 1.0])
    mu = (rng.standard_normal((n, D)) * scale).astype(np.float32)
    logvar = np.zeros((n, D), np.float32)
    logvar[:, [0, 1, 3]] = -2.0
    images = rng.random((n, 1, H, H)).astype(np.float32)
    return PosteriorBatch(images, mu, logvar)


def test_values_are_ten_evenly_spaced_in_minus3_3():
    assert VALUES.shape == (10,)
    np.testing.assert_array_equal(VALUES, np.linspace(-3, 3, 10))


def test_kl_order_largest_first_and_stable():
    np.testing.assert_array_equal(kl_order(np.array([0.5, 2.0, 0.0, 1.0])), [1, 3, 0, 2])
    np.testing.assert_array_equal(kl_order(np.array([1.0, 1.0, 3.0])), [2, 0, 1])


@pytest.mark.parametrize("relative", [False, True])
def test_codes_vary_one_latent_and_keep_the_seed_mean(relative):
    mu = np.array([[0.3, -1.2, 0.7, 2.0], [1.5, 0.0, -0.4, 0.1]], np.float32)
    order = np.array([2, 0, 3, 1])
    codes = traversal_codes(mu, order, VALUES, relative)
    assert codes.shape == (2, 4, 10, 4)
    for s in range(2):
        for r, j in enumerate(order):
            expect = VALUES.astype(np.float32) + (mu[s, j] if relative else 0)
            np.testing.assert_allclose(codes[s, r, :, j], expect, rtol=0, atol=1e-6)
            others = np.delete(codes[s, r], j, axis=1)
            np.testing.assert_array_equal(others, np.broadcast_to(np.delete(mu[s], j), (10, 3)))


def test_traverse_sorts_rows_by_kl_and_decodes_exact_codes():
    batch = known_batch()
    decode = RecordingDecoder()
    tr = traverse(decode, batch, n_seeds=3)
    np.testing.assert_array_equal(tr.order, [1, 3, 0, 2])
    assert np.all(np.diff(tr.kl[tr.order]) <= 0) and tr.kl[2] == pytest.approx(0.5 * np.mean(batch.mu[:, 2] ** 2))
    assert tr.images.shape == (3, D, 10, 1, H, H)
    (z,) = decode.calls  # one decoder call: 3 seed means, then 3 x 4 x 10 traversal codes
    assert z.shape == (3 + 3 * D * 10, D)
    np.testing.assert_array_equal(z[:3], batch.mu[:3])
    codes = z[3:].reshape(3, D, 10, D)
    for s in range(3):
        for r, j in enumerate(tr.order):
            np.testing.assert_array_equal(codes[s, r, :, j], VALUES.astype(np.float32))
            mask = np.arange(D) != j
            np.testing.assert_array_equal(codes[s, r][:, mask], np.broadcast_to(batch.mu[s, mask], (10, D - 1)))
            # the image in row r, column v is the decoding of that code
            np.testing.assert_allclose(tr.images[s, r, :, 0, 0, j], VALUES / 10 + 0.5, atol=1e-6)
    np.testing.assert_array_equal(tr.seeds, batch.images[:3])
    np.testing.assert_allclose(tr.recons[:, 0, 0, :D], batch.mu[:3] / 10 + 0.5, atol=1e-6)


def test_grid_has_seed_and_reconstruction_columns_then_ten_values():
    tr = traverse(RecordingDecoder(), known_batch(), n_seeds=2)
    cells = grid_cells(tr, 1)
    assert cells.shape == (D, 2 + 10, 1, H, H)
    for r in range(D):
        np.testing.assert_array_equal(cells[r, 0], tr.seeds[1])
        np.testing.assert_array_equal(cells[r, 1], tr.recons[1])
        np.testing.assert_array_equal(cells[r, 2:], tr.images[1, r])


def test_traversal_files(tmp_path):
    tr = traverse(RecordingDecoder(), known_batch(), n_seeds=2)
    paths = write_traversal_files(tr, tmp_path)
    assert sorted(paths) == ["gif", "seed0", "seed1"]
    for key in ("seed0", "seed1"):
        assert paths[key].stat().st_size <= 300_000 and Image.open(paths[key]).format == "PNG"
    frames = iio.imread(paths["gif"], index=None)
    assert frames.shape[0] == 18  # 10 values forth, 8 back (a loop without repeated ends)
    assert Image.open(paths["gif"]).info.get("loop") == 0


def test_write_traversals_on_a_real_run(reported_run, tmp_path):
    paths = write_traversals(reported_run, tmp_path, n_seeds=2, n_images=16)
    assert sorted(paths) == ["gif", "seed0", "seed1"] and all(p.parent == tmp_path for p in paths.values())
    from betavae.experiments.load import load_run

    run = load_run(reported_run)
    batch = posterior_batch(run, 16, 0)
    assert batch.images.shape == (16, 1, 64, 64) and batch.mu.shape == (16, 4)
    assert 0.0 <= batch.images.min() and batch.images.max() <= 1.0


def test_write_traversals_without_weights_is_a_clear_error(reported_run, tmp_path):
    (tmp_path / "config.yaml").write_text((reported_run / "config.yaml").read_text())
    with pytest.raises(BetavaeError, match="weights.safetensors is missing"):
        write_traversals(tmp_path)
