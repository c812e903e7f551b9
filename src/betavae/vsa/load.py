"""Load a trained vsa run back from its run folder: its run config and its model."""

from __future__ import annotations

from pathlib import Path

from betavae.config import RunConfig
from betavae.errors import BetavaeError
from betavae.experiments.rundir import WEIGHTS_FILE, read_run_config
from betavae.models.feature_vae import FeatureVAE
from betavae.train.checkpoint import load_weights
from betavae.train.tasks.vsa import build_model, check_config


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[RunConfig, FeatureVAE]:
    """The run config (``config.yaml``) and the model with the weights of ``weights.safetensors``
    (the last checkpoint's; safetensors, no pickle), in evaluation mode on ``device``."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    if config.model.task != "vsa":
        raise BetavaeError(f"{run_dir} is not a vsa run (model.kind={config.model.kind}); "
                           "train one with `bvae train vsa_paired`")
    check_config(config)
    tensors, _, _ = load_weights(run_dir / WEIGHTS_FILE)
    model = build_model(config)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise BetavaeError(f"{run_dir / WEIGHTS_FILE} does not match the run's model config: {first}") from None
    return config, model.to(device).eval()
