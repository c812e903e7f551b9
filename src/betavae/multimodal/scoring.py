"""A multimodal model scored with the measures and the test protocols (spec §6, §7).

The glue between a model (an :class:`~betavae.models.multimodal.EnsembleVAE`, stacked or one
:class:`~betavae.models.multimodal.MemberVAE`) and the pure NumPy measures and protocols: a
``reconstruct`` callable, the evaluation points and the settings of ``model.measures``. Used by the
sensorimotor evaluator during training and after it, and by the benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from betavae.data.sensorimotor_layout import mask_from_spec
from betavae.data.sensorimotor_rows import Sensorimotor
from betavae.metrics.integration import Reconstruct, integration_measures
from betavae.models.multimodal import EnsembleVAE
from betavae.multimodal.protocols import normalised_errors, run_protocols
from betavae.multimodal.settings import MEASURES, MeasureSettings, eval_points


def reconstructor(model: EnsembleVAE, latent_mode: str = "mean", samples: int = 8, seed: int = 0) -> Reconstruct:
    """A NumPy ``reconstruct(x (N, D)) -> (μ, log σ²)`` of the model, decoded from z = μ_z:
    (E, N, D) for a stacked model, (N, D) for a :class:`MemberVAE`; with ``latent_mode="sample"``
    an extra leading axis of S latent draws (the same S draws, from ``torch.Generator(seed)``,
    for every input; the training's random state is not touched)."""
    ref = next(iter(model.params.values()))

    def mean(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, lv = model.reconstruct(torch.as_tensor(x, dtype=ref.dtype, device=ref.device))
        return mu.double().cpu().numpy(), lv.double().cpu().numpy()

    def sample(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gen = torch.Generator().manual_seed(seed)
        shape = (model.size, len(x), model.n_z)
        mus, lvs = [], []
        with torch.no_grad():
            for _ in range(samples):
                eps = torch.randn(shape, generator=gen, dtype=torch.float64).to(ref)
                out = model(torch.as_tensor(x).to(ref), eps)
                mus.append(out["mu_x"].double().cpu().numpy())
                lvs.append(out["logvar_x"].double().cpu().numpy())
        return np.stack(mus), np.stack(lvs)

    return mean if latent_mode == "mean" else sample


def measure(model: EnsembleVAE, data: Sensorimotor, settings: MeasureSettings,
            names: Sequence[str] = MEASURES) -> dict[str, np.ndarray]:
    """The measures ``names`` (families of :data:`MEASURES`) of the model on the settings'
    evaluation points: {``sme_mod.vision``: value (E,) or (), …} in nats (prediction error: in
    the data's units). With ``latent_mode=sample`` the KLs are averaged over the draws."""
    points = eval_points(data, settings)
    fn = reconstructor(model, settings.latent_mode, settings.samples, settings.eval_seed)
    pe_keep = None if settings.pe_input == "full" else mask_from_spec(settings.pe_input, data.layout)
    vals = integration_measures(fn, points, data.layout, kl_direction=settings.kl_direction,
                                sme_keep=settings.sme_keep, lop_mute=settings.lop_mute, pe_keep=pe_keep)
    wanted = set(names)
    return {k: v.mean(0) if settings.latent_mode == "sample" else v for k, v in vals.items()
            if k.partition(".")[0] in wanted}


def protocols(model: EnsembleVAE, data: Sensorimotor, settings: MeasureSettings) -> dict[str, np.ndarray]:
    """The five test protocols (spec §7) on the data's test rows 100–1099, decoded from z = μ_z,
    with their normalised errors (``…nrmse…``)."""
    result = run_protocols(reconstructor(model), data.test, data.consecutive(), data.layout,
                           rollout_steps=settings.rollout_steps, inject_vision=settings.inject_vision)
    return result | normalised_errors(result, data.test, data.layout)
