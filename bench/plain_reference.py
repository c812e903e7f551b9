"""A plain β-VAE on dSprites, written as users write it: the yardstick of bench/bench_speed.py (issues 8, 22).

Both variants are eager fp32 PyTorch with PyTorch's default settings and the default allocator:
an ``nn.Sequential`` encoder/decoder of the Burgess et al. (2018) architecture, the loss written
out inline (BCE-with-logits summed over pixels, KL summed over latents, both averaged over the
batch; loss = recon + β·KL, the same reduction as betavae) and ``torch.optim.Adam`` with its
defaults. Nothing from betavae is used except its dSprites renderer, to make the images once.
They differ only in how batches are made and in what the loop reads back each step:

``--loader tensor`` (the default; the fastest plain loop written here)
    the choices a careful user makes: the images live in one in-memory tensor, each epoch draws
    a ``torch.randperm`` and a batch is one indexing of the tensor (``images[perm[i:i + B]]``,
    a single gather); ``zero_grad(set_to_none=True)``; the loss is kept as a detached tensor
    and read back once, after the timed steps (no host sync or ``.item()`` per step).
``--loader dataloader``
    how many public repositories write it: a shuffled ``DataLoader`` over a ``TensorDataset``
    (1Konny/Beta-VAE: ``DataLoader`` over its ``CustomTensorDataset`` of the dSprites tensor;
    YannDubs/disentangling-vae: ``DataLoader`` over a ``Dataset`` whose ``__getitem__`` turns
    one image into a tensor), which indexes 64 single images and collates them with
    ``torch.stack`` every step, and ``loss.item()`` every step (YannDubs/disentangling-vae's
    ``_train_iteration`` returns ``loss.item()``); ``zero_grad()``.

Measured here (2-core AMD EPYC, torch 2.13 CPU; docs/speed.md): the two are about equally fast,
7.65 and 7.67 steps/s at one thread, 12.54 and 11.54 at two under rising load (medians of 3
interleaved runs; tensor first): a batch costs 0.21 ms (tensor) and
0.23 ms (DataLoader) of CPU next to ≈ 130 ms for the fp32 step, and ``.item()`` waits for no
device on a CPU. ``tensor`` is the reference of bench/bench_speed.py's targets; it prints both.

Usage: python bench/plain_reference.py [--loader tensor|dataloader] [--steps 200] [--batch-size 64] [--warmup 10]
prints steps/s of the timed steps (after warm-up) and the mean loss of the last 100 steps.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

LOADERS = ("tensor", "dataloader")


class View(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*self.shape)


class BetaVAE(nn.Module):
    """Burgess et al. (2018): 4 conv (32 ch, 4×4, stride 2), FC 256, FC 256, 2·z; decoder mirrored."""

    def __init__(self, z_dim: int = 10, nc: int = 1) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(nc, 32, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),
            View(-1, 32 * 4 * 4),
            nn.Linear(32 * 4 * 4, 256), nn.ReLU(True),
            nn.Linear(256, 256), nn.ReLU(True),
            nn.Linear(256, z_dim * 2),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256), nn.ReLU(True),
            nn.Linear(256, 256), nn.ReLU(True),
            nn.Linear(256, 32 * 4 * 4), nn.ReLU(True),
            View(-1, 32, 4, 4),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(32, nc, 4, 2, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distributions = self.encoder(x)
        mu = distributions[:, : self.z_dim]
        logvar = distributions[:, self.z_dim :]
        std = logvar.div(2).exp()
        z = mu + std * torch.randn_like(std)
        return self.decoder(z), mu, logvar


def loss_fn(x: torch.Tensor, x_recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float) -> torch.Tensor:
    """recon + β·KL per image: BCE-with-logits summed over pixels, KL(N(μ, σ²) ‖ N(0, I)) summed
    over latents, both averaged over the batch."""
    batch_size = x.size(0)
    recon_loss = F.binary_cross_entropy_with_logits(x_recon, x, reduction="sum").div(batch_size)
    klds = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    total_kld = klds.sum(1).mean(0)
    return recon_loss + beta * total_kld


def make_images(num_images: int, seed: int) -> torch.Tensor:
    """``num_images`` random dSprites images, (N, 1, 64, 64) float32 in [0, 1], rendered once."""
    from betavae.data.dsprites import DSpritesConfig

    source = DSpritesConfig().build()
    rng = np.random.default_rng(seed)
    return torch.from_numpy(source.observations(source.sample_factors(num_images, rng)).astype(np.float32))


def tensor_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Shuffled batches without end: a fresh permutation each epoch, one gather per batch (the last
    incomplete batch of an epoch is dropped, like ``drop_last=True``)."""
    n = images.shape[0] - images.shape[0] % batch_size
    while True:
        perm = torch.randperm(images.shape[0])
        for i in range(0, n, batch_size):
            yield images[perm[i:i + batch_size]]


def dataloader_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """The same through a shuffled ``DataLoader(TensorDataset(images), drop_last=True)``, without end."""
    loader = DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True, drop_last=True)
    while True:
        for (x,) in loader:
            yield x


def train(steps: int, batch_size: int = 64, warmup: int = 10, lr: float = 1e-4, beta: float = 4.0,
          seed: int = 0, num_images: int = 12_800, loader: str = "tensor") -> dict[str, float]:
    """Train ``warmup + steps`` steps; steps/s of the last ``steps`` and the mean of their last 100 losses."""
    if loader not in LOADERS:
        raise ValueError(f"unknown loader {loader!r}; choose from {', '.join(LOADERS)}")
    torch.manual_seed(seed)
    images = make_images(num_images, seed)
    batches = tensor_batches(images, batch_size) if loader == "tensor" else dataloader_batches(images, batch_size)
    net = BetaVAE(z_dim=10, nc=1)
    optim = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
    net.train()
    losses: list = []  # tensors (tensor loader: read back once at the end) or floats (dataloader)
    t0 = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            t0 = time.perf_counter()
        x = next(batches)
        x_recon, mu, logvar = net(x)
        loss = loss_fn(x, x_recon, mu, logvar, beta)
        if loader == "tensor":
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            losses.append(loss.detach())
        else:
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
    elapsed = time.perf_counter() - t0
    last = torch.stack(losses[-100:]).tolist() if loader == "tensor" else losses[-100:]
    return {"steps_per_s": steps / elapsed, "loss": float(np.mean(last))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loader", choices=LOADERS, default="tensor")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    result = train(args.steps, args.batch_size, args.warmup, loader=args.loader)
    print(f"plain reference ({args.loader}): {result['steps_per_s']:.2f} steps/s, "
          f"mean loss of the last steps {result['loss']:.2f}")


if __name__ == "__main__":
    main()
