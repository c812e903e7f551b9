"""Objectives: model outputs -> named loss terms (always including the unreduced per-latent KL)."""

from betavae.registry import Registry

OBJECTIVES = Registry("objective")


def load_all() -> None:
    """Import every built-in objective module so each registers itself."""
    from betavae.objectives import (  # noqa: F401
        beta,
        betatcvae,
        capacity,
        factorvae,
        learned,
        pairwise,
        per_latent,
    )


__all__ = ["OBJECTIVES", "load_all"]
