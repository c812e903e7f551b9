"""A deliberately plain β-VAE on dSprites: the yardstick of bench/bench_speed.py (issue 8).

Written the way common public β-VAE repositories write it (e.g. 1Konny/Beta-VAE, AntixK's
PyTorch-VAE): an ``nn.Sequential`` encoder/decoder of the Burgess et al. (2018) architecture,
the loss written out inline, ``torch.optim.Adam`` with defaults, eager fp32, PyTorch's default
settings and the default allocator, and a ``DataLoader`` over an in-memory image tensor.
Nothing from betavae is used except its dSprites renderer, to make the images.

Objective (same reduction as betavae): BCE-with-logits summed over pixels, KL summed over
latents, both averaged over the batch; loss = recon + β·KL.

Usage: python bench/plain_reference.py [--steps 200] [--batch-size 64] [--warmup 10]
prints steps/s of the timed steps (after warm-up) and the mean loss of the last 100 steps.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


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
    batch_size = x.size(0)
    recon_loss = F.binary_cross_entropy_with_logits(x_recon, x, reduction="sum").div(batch_size)
    klds = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    total_kld = klds.sum(1).mean(0)
    return recon_loss + beta * total_kld


def make_loader(num_images: int, batch_size: int, seed: int) -> DataLoader:
    """A shuffled DataLoader over ``num_images`` dSprites images (rendered once, float32 in memory)."""
    from betavae.data.dsprites import DSpritesConfig

    source = DSpritesConfig().build()
    rng = np.random.default_rng(seed)
    images = source.observations(source.sample_factors(num_images, rng)).astype(np.float32)
    data = torch.from_numpy(images)
    return DataLoader(TensorDataset(data), batch_size=batch_size, shuffle=True, drop_last=True)


def train(steps: int, batch_size: int = 64, warmup: int = 10, lr: float = 1e-4, beta: float = 4.0,
          seed: int = 0, num_images: int = 12_800) -> dict[str, float]:
    """Train ``warmup + steps`` steps; steps/s of the last ``steps`` and their last losses."""
    torch.manual_seed(seed)
    loader = make_loader(num_images, batch_size, seed)
    net = BetaVAE(z_dim=10, nc=1)
    optim = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.999))
    net.train()
    losses: list[float] = []
    step, t0 = 0, time.perf_counter()
    while step < warmup + steps:
        for (x,) in loader:
            if step == warmup:
                t0 = time.perf_counter()
            x_recon, mu, logvar = net(x)
            loss = loss_fn(x, x_recon, mu, logvar, beta)
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(loss.item())
            step += 1
            if step == warmup + steps:
                break
    elapsed = time.perf_counter() - t0
    return {"steps_per_s": steps / elapsed, "loss": float(np.mean(losses[-100:]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    result = train(args.steps, args.batch_size, args.warmup)
    print(f"plain reference: {result['steps_per_s']:.2f} steps/s, mean loss of the last steps {result['loss']:.2f}")


if __name__ == "__main__":
    main()
