"""Objectives: model outputs -> named loss terms (always including the unreduced per-latent KL)."""

from betavae.registry import Registry, import_modules

OBJECTIVES = Registry("objective")


def load_all() -> None:
    """Import every built-in objective module so each registers itself."""
    import_modules("betavae.objectives")


__all__ = ["OBJECTIVES", "load_all"]
