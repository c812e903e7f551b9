"""betavae: β-VAE representation learning (objectives, schedules, dSprites, metrics, reports)."""

__version__ = "0.1.0"
