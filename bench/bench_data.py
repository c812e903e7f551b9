"""Benchmark the file-backed data sources: images/s served to training from each cached source,
against what training consumes, and the one-off caching rate of a folder of JPEGs.

    python bench/bench_data.py [--jpegs 2000] [--batches 200] [--workers 2]

Writes small files in the real formats to a temporary folder (Shapes3D .h5 and MPI3D .npz on a
reduced grid, an .npy image array, ``--jpegs`` procedural 178×218 JPEGs shaped like CelebA),
caches each once, then times ``make_batch`` (batches of 64 random factors/indices, exactly what
the training loop calls) and the Burgess model's training step at batch 64 on RGB input. Prints
one line per source with images/s and the ratio to training. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from betavae.cache import set_cache_dir
from betavae.data.dsprites import DSprites
from betavae.data.images import ImagesConfig
from betavae.data.mpi3d import load_mpi3d
from betavae.data.render import shared_template_renderer
from betavae.data.shapes3d import load_shapes3d
from betavae.train.batches import make_batch


def serve_rate(source, batches: int, batch_size: int = 64) -> float:
    make_batch(source, batch_size, 0, 0)  # warm up
    t0 = time.perf_counter()
    for step in range(1, batches + 1):
        make_batch(source, batch_size, 0, step)
    return batches * batch_size / (time.perf_counter() - t0)


def train_rate(channels: int, steps: int = 15, batch_size: int = 64) -> float:
    """Images/s of the Burgess model's forward + backward + Adam step (Bernoulli loss)."""
    from betavae.config import build_config

    model = build_config({}).model.build((channels, 64, 64))
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.rand(batch_size, channels, 64, 64)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        out = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times[3:])


def write_jpegs(folder: Path, n: int) -> None:
    """Procedural 178×218 RGB photos (smooth gradients + a disc), quality 90, 10 per sub-folder."""
    yy, xx = np.mgrid[0:218, 0:178]
    rng = np.random.default_rng(0)
    for i in range(n):
        c = rng.random((3, 3))
        img = np.stack([c[k, 0] * xx / 178 + c[k, 1] * yy / 218 + c[k, 2] for k in range(3)], -1)
        cx, cy, r = rng.uniform(40, 140), rng.uniform(40, 180), rng.uniform(15, 50)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.random(3)
        sub = folder / f"{i // 10:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.clip(img / 2, 0, 1) * 255).astype(np.uint8)).save(sub / f"{i:06d}.jpg", quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jpegs", type=int, default=2000)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"# {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        set_cache_dir(tmp / "cache")
        rng = np.random.default_rng(0)

        import h5py

        s3_sizes = (10, 10, 10, 2, 2, 3)  # 12,000 images (the real grid: 480,000)
        n = int(np.prod(s3_sizes))
        labels = np.stack(np.unravel_index(np.arange(n), s3_sizes), 1).astype(np.float64)
        with h5py.File(tmp / "3dshapes.h5", "w") as f:
            f.create_dataset("images", data=rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
                             chunks=(100, 64, 64, 3), compression="gzip")
            f.create_dataset("labels", data=labels)
        mpi_sizes = (6, 6, 2, 3, 3, 2, 2)  # 2,592 images (the real grid: 1,036,800)
        np.savez(tmp / "mpi3d_toy.npz", images=rng.integers(0, 256, (int(np.prod(mpi_sizes)), 64, 64, 3), dtype=np.uint8))
        np.save(tmp / "arr.npy", rng.integers(0, 256, (5000, 64, 64, 3), dtype=np.uint8))
        write_jpegs(tmp / "jpegs", args.jpegs)

        t0 = time.perf_counter()
        jpeg = ImagesConfig(path=tmp / "jpegs", workers=args.workers).build(progress=False)
        jpeg_s = time.perf_counter() - t0
        print(f"caching {len(jpeg)} JPEGs 178×218 -> 3×64×64 with {args.workers} threads: "
              f"{jpeg_s:.2f} s, {len(jpeg) / jpeg_s:,.0f} images/s (CelebA's 202,599: ≈ {202599 / len(jpeg) * jpeg_s / 60:.0f} min)")
        t0 = time.perf_counter()
        s3 = load_shapes3d(tmp / "3dshapes.h5", factor_sizes=s3_sizes, progress=False)
        print(f"caching Shapes3D-format .h5 (gzip, {n} images): {n / (time.perf_counter() - t0):,.0f} images/s")
        shared_template_renderer(DSprites().renderer_config).warm()  # its one-off 3 s template build
        sources = {
            "dsprites (built-in renderer)": DSprites(),
            "shapes3d (cached .h5)": s3,
            "mpi3d (cached .npz)": load_mpi3d(tmp / "mpi3d_toy.npz", factor_sizes=mpi_sizes, progress=False),
            "images (cached .npy array)": ImagesConfig(path=tmp / "arr.npy").build(progress=False),
            "images (cached JPEG folder)": jpeg,
        }
        train = {1: train_rate(1), 3: train_rate(3)}
        print(f"training consumes (Burgess, batch 64): grey {train[1]:,.0f} images/s, RGB {train[3]:,.0f} images/s")
        for name, source in sources.items():
            rate = serve_rate(source, args.batches)
            need = train[source.observation_shape[0]]
            print(f"{name:30s} serves {rate:>9,.0f} images/s = {rate / need:5.1f}× training")


if __name__ == "__main__":
    main()
