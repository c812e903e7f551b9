"""Settings presets of the array-metric suite: ``default`` (disentanglement_lib) and ``fast``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from betavae.errors import BetavaeError
from betavae.metrics._checks import DEFAULT_TRAIN_FRACTION
from betavae.metrics.estimators import (
    GBT_DEFAULTS,
    HIST_GBT_DEFAULTS,
    LOGREG_DEFAULTS,
    SVC_DEFAULTS,
    merged,
)


@dataclass(frozen=True)
class Preset:
    """Every setting of the array suite.

    Attributes:
        name: preset name, recorded in the results.
        num_bins: histogram bins (MIG, modularity, IRS, mean MI).
        irs_quantile: quantile of IRS's within-group deviations.
        train_fraction: first ``ceil(f N)`` rows train when no test arrays are given.
        dci_classifier: ``"gbt"`` or ``"hist_gbt"``.
        dci_params, svc_params, logreg_params: overrides of the estimator defaults in
            :mod:`betavae.metrics.estimators`.
        max_train, max_test: if set, the classifier metrics (DCI, discrete SAP, explicitness,
            DCI-ES) use only the first ``max_train`` / ``max_test`` rows (i.i.d. draws).
        dci_es_capacities: DCI-ES probes: trees of 2**1 .. 2**C leaves.
    """

    name: str = "default"
    num_bins: int = 20
    irs_quantile: float = 0.99
    train_fraction: float = DEFAULT_TRAIN_FRACTION
    dci_classifier: str = "gbt"
    dci_params: dict[str, Any] = field(default_factory=dict)
    svc_params: dict[str, Any] = field(default_factory=dict)
    logreg_params: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None
    max_test: int | None = None
    dci_es_capacities: int = 8

    def resolved(self) -> dict[str, Any]:
        """The full settings, estimator parameters merged with their defaults (for records)."""
        out = dataclasses.asdict(self)
        dci_defaults = GBT_DEFAULTS if self.dci_classifier == "gbt" else HIST_GBT_DEFAULTS
        out["dci_params"] = merged(dci_defaults, self.dci_params)
        out["svc_params"] = merged(SVC_DEFAULTS, self.svc_params)
        out["logreg_params"] = merged(LOGREG_DEFAULTS, self.logreg_params)
        return out


#: disentanglement_lib's study settings.
DEFAULT = Preset()

#: For evaluation during training: histogram boosting for DCI (25 iterations of depth-3
#: trees, learning rate 0.2, split-gain importances) and at most 5,000 train / 2,500 test points for the
#: classifier metrics. MIG, modularity, IRS, the unsupervised scores and continuous SAP are
#: exact. Deviations on the spec's test grids are listed in docs/metrics.md.
FAST = Preset(
    name="fast",
    dci_classifier="hist_gbt",
    max_train=5000,
    max_test=2500,
)

PRESETS: dict[str, Preset] = {"default": DEFAULT, "fast": FAST}


def get_preset(preset: str | Preset, overrides: dict[str, Any] | None = None) -> Preset:
    """A preset by name (or as given), with field overrides applied."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise BetavaeError(f"unknown metrics preset {preset!r}; known: {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    if overrides:
        known = {f.name for f in dataclasses.fields(Preset)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise BetavaeError(
                f"unknown metrics setting(s) {unknown}; known: {', '.join(sorted(known))}"
            )
        preset = dataclasses.replace(preset, **overrides)
    caps = preset.dci_es_capacities
    if isinstance(caps, bool) or not isinstance(caps, int) or caps < 2:
        raise BetavaeError(f"dci_es_capacities must be an int >= 2, got {caps!r}")
    if preset.dci_classifier not in ("gbt", "hist_gbt"):
        raise BetavaeError(
            f"dci_classifier must be 'gbt' or 'hist_gbt', got {preset.dci_classifier!r}"
        )
    return preset
