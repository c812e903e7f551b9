"""Models: encoders to a diagonal Gaussian posterior, decoders to logits. No losses, no β."""

from betavae.registry import Registry, import_modules

MODELS = Registry("model")


def load_all() -> None:
    """Import every built-in model module so each registers itself."""
    import_modules("betavae.models")


__all__ = ["MODELS", "load_all"]
