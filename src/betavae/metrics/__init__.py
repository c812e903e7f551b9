"""Disentanglement metrics as disentanglement_lib computes them, on plain arrays.

Array metrics take ``codes (N, D)`` (posterior means) and ``factors (N, K)`` (integer
classes) and return a dict of namespaced float scores:

========================  ==================================================================
function                  keys
========================  ==================================================================
:func:`mig`               ``mig`` (Chen et al. 2018)
:func:`dci`               ``dci.disentanglement``, ``dci.completeness``,
                          ``dci.informativeness_train``, ``dci.informativeness_test``
                          (Eastwood & Williams 2018)
:func:`sap`               ``sap`` (discrete, Kumar et al. 2018)
:func:`sap_continuous`    ``sap.continuous``
:func:`modularity`        ``modularity`` (Ridgeway & Mozer 2018)
:func:`explicitness`      ``explicitness.train``, ``explicitness.test``,
                          ``explicitness.test_factors_skipped``
:func:`irs`               ``irs``, ``irs.num_active_dims`` (Suter et al. 2019)
:func:`dci_es`            ``dci_es.explicitness``, ``dci_es.size`` (Eastwood et al. 2023)
:func:`infomec`           ``infomec.infom``, ``infomec.infoc``, ``infomec.infoe`` (Hsu et al. 2023)
:func:`udr`               across models (no factors): ``model_scores``, ``pairwise`` (Duan et al. 2020)
:func:`unsupervised`      ``unsupervised.gaussian_total_correlation``,
                          ``unsupervised.gaussian_wasserstein_correlation``,
                          ``unsupervised.gaussian_wasserstein_correlation_norm``,
                          ``unsupervised.mutual_info_score`` (Locatello et al. 2019)
========================  ==================================================================

Sampled scores take an encoder callable and a ground-truth source:
:func:`beta_vae_score` (``beta_vae.train_accuracy``, ``beta_vae.eval_accuracy``; Higgins et
al. 2017) and :func:`factor_vae_score` (``factor_vae.train_accuracy``,
``factor_vae.eval_accuracy``, ``factor_vae.num_active_dims``; Kim & Mnih 2018).
:func:`sample_codes` draws (codes, factors) for the array metrics; :func:`reference_grid`
builds the synthetic grid of the spec's reference values; :func:`evaluate` runs the array suite with a preset (``default`` or ``fast``). Seeds: an int gives each metric a fresh
``numpy.random.default_rng(seed)``; a Generator is used as the stream. See docs/metrics.md.

Posterior diagnostics take ``mu, logvar (N, D)`` and need no factors: :func:`kl_parts` splits
each latent's KL exactly into an upper bound on the information it carries about the input and
the rest (offset and width shared by every input), :func:`information_bound` bounds the joint
I(x; z), :func:`active_units` counts Burda et al.'s active units.
"""

from betavae.metrics._checks import ConstantFactorWarning
from betavae.metrics.beta_vae import beta_vae_score
from betavae.metrics.dci import completeness, dci, disentanglement
from betavae.metrics.dci_es import dci_es, explicitness_from_curve
from betavae.metrics.discretize import discrete_entropy, histogram_discretize, mutual_info_matrix
from betavae.metrics.factor_vae import factor_vae_score
from betavae.metrics.infomec import infomec
from betavae.metrics.irs import irs
from betavae.metrics.mig import mig, mig_from_mi
from betavae.metrics.modularity import explicitness, modularity, modularity_from_mi
from betavae.metrics.posterior import active_units, information_bound, kl_parts
from betavae.metrics.presets import PRESETS, Preset
from betavae.metrics.reference import reference_grid
from betavae.metrics.sampling import FactorSource, sample_codes
from betavae.metrics.sap import sap, sap_continuous
from betavae.metrics.suite import ARRAY_METRICS, evaluate
from betavae.metrics.udr import gaussian_kl, udr
from betavae.metrics.unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    unsupervised,
)

__all__ = [
    "ARRAY_METRICS",
    "PRESETS",
    "ConstantFactorWarning",
    "FactorSource",
    "Preset",
    "active_units",
    "beta_vae_score",
    "completeness",
    "dci",
    "dci_es",
    "discrete_entropy",
    "disentanglement",
    "evaluate",
    "explicitness",
    "explicitness_from_curve",
    "factor_vae_score",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "histogram_discretize",
    "information_bound",
    "infomec",
    "irs",
    "kl_parts",
    "mig",
    "mig_from_mi",
    "modularity",
    "modularity_from_mi",
    "mutual_info_matrix",
    "reference_grid",
    "sample_codes",
    "sap",
    "sap_continuous",
    "udr",
    "gaussian_kl",
    "unsupervised",
]
