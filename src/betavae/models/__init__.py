"""Models: encoders to a diagonal Gaussian posterior, decoders to logits. No losses, no β."""

from betavae.registry import Registry

MODELS = Registry("model")


def load_all() -> None:
    """Import every built-in model module so each registers itself."""
    from betavae.models import conv64, mlp  # noqa: F401


__all__ = ["MODELS", "load_all"]
