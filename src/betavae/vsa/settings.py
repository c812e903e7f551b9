"""Settings of dSprites-VSA (pydantic v2, frozen, unknown keys forbidden).

Defaults follow spec/dsprites-vsa.md; every reconstructed choice ([recon] in the spec) is a field
here, and the resolved settings are written to each run folder (``config.yaml``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, ValidationError, model_validator

from betavae.bounds import NonNegative, Probability, Seed
from betavae.config import Strict, parse_override, read_yaml, set_dotted
from betavae.data.dsprites import FACTOR_NAMES, RendererConfig
from betavae.errors import BetavaeError

Stage = Literal["pd", "sd", "psd"]


class DataSettings(Strict):
    """One settings object for the three datasets; each generator reads the fields it needs.

    ``feature_weights`` maps factor names to the probability weight of that feature being the
    one that changes (PD, PSD); missing names get weight 0, ``None`` means uniform.
    """

    seed: Seed = 0
    split_seed: Seed = 0
    test_fraction: float = Field(0.1, gt=0, lt=1)
    epoch_size: PositiveInt = 1_000_000
    # PD / PSD: which feature changes and how
    feature_weights: dict[str, NonNegative] | None = None
    change: Literal["any", "adjacent"] = "any"
    exclude_symmetric: bool = True
    p_no_change: float = Field(0.0, ge=0, le=1)
    # SD / PSD: scenes
    n_min: int = 2  # 2 <= n_min <= n_max <= 5: checked together below
    n_max: int = 5
    n_weights: list[NonNegative] | None = None
    gap: int = Field(1, ge=0)
    max_tries: PositiveInt = 100
    max_restarts: int = Field(10, ge=0)
    allow_overlap: bool = False
    renderer: RendererConfig = Field(default_factory=RendererConfig)

    @model_validator(mode="after")
    def _check(self) -> DataSettings:
        if not (2 <= self.n_min <= self.n_max <= 5):
            raise ValueError(f"scene sizes must satisfy 2 <= n_min <= n_max <= 5, got n_min={self.n_min}, "
                             f"n_max={self.n_max}")
        if self.n_weights is not None and (len(self.n_weights) != self.n_max - self.n_min + 1
                                           or min(self.n_weights) < 0 or sum(self.n_weights) <= 0):
            raise ValueError(f"n_weights needs {self.n_max - self.n_min + 1} non-negative weights "
                             f"(one per scene size {self.n_min}..{self.n_max}) with a positive sum")
        if self.feature_weights is not None:
            bad = sorted(set(self.feature_weights) - set(FACTOR_NAMES))
            if bad:
                raise ValueError(f"unknown factor name(s) {bad}; valid factors: {', '.join(FACTOR_NAMES)}")
            if min(self.feature_weights.values()) < 0 or sum(self.feature_weights.values()) <= 0:
                raise ValueError("feature_weights must be non-negative with a positive sum")
        return self


class ModelSettings(Strict):
    """Spec §5.1/§5.2: 4 conv + 2 linear layers, five feature vectors of ``latent_dim``."""

    latent_dim: PositiveInt = 1024
    hidden: PositiveInt = 256
    use_item_memory: bool | None = None  # None: on for PSD, off for PD and SD
    memory: Literal["bipolar", "gaussian", "hrr"] = "bipolar"
    memory_seed: Seed = 0


class LossSettings(Strict):
    """Spec §5.3: image loss, its reduction, κ ("KLD coef"), λ_cos ("Cosine loss")."""

    image: Literal["bce", "mse"] = "bce"
    reduction: Literal["sum", "mean"] = "sum"
    kld: float = Field(0.01, ge=0)
    cosine: float = Field(1.0, ge=0)
    cosine_on: Literal["mu", "sample"] = "mu"
    margin: float | None = Field(None, ge=-1.0, le=1.0)  # push the changed feature apart: + max(0, cos_k − margin)
    direct: float = Field(0.0, ge=0)  # λ_direct: weight of the unswapped reconstructions (PD)


class TrainSettings(Strict):
    """Adam; the spec's 100k (PD, SD) / 150k (PSD) steps are far beyond a shared CPU."""

    steps: PositiveInt = 100_000
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-4
    log_every: PositiveInt = 50
    threads: PositiveInt | None = None
    device: str = "auto"
    slot_assignment: Literal["random", "fixed"] = "random"


class ClassifierSettings(Strict):
    """The factor classifier of spec §7.2 (cached under a hash of these and the renderer)."""

    steps: PositiveInt = 4000
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-3
    seed: Seed = 0
    n_test: PositiveInt = 2000


class EvalSettings(Strict):
    n_items: PositiveInt = 512
    batch_size: PositiveInt = 128
    a_min: PositiveInt = 4
    probe_images: int = Field(2000, ge=0)  # slot probe (0 = off); the spec uses 10,000
    recombination: int = Field(256, ge=0)  # targets assembled from other images (0 = off)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    pd_iou: Probability = 0.8
    pd_swap: Probability = 0.8
    psd_iou: Probability = 0.8
    psd_count: Probability = 0.9
    psd_swap: Probability = 0.7


class VSAConfig(Strict):
    name: str = "vsa"
    stage: Stage = "pd"
    seed: Seed = 0
    data: DataSettings = Field(default_factory=DataSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    loss: LossSettings = Field(default_factory=LossSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)

    @property
    def item_memory(self) -> bool:
        use = self.model.use_item_memory
        return self.stage == "psd" if use is None else use

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())


def build_vsa_config(tree: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> VSAConfig:
    """Validate a settings tree after ``a.b=value`` overrides; one-line :class:`BetavaeError`."""
    tree = copy.deepcopy(tree)
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(tree, key, value)
    try:
        return VSAConfig.model_validate(tree)
    except ValidationError as exc:
        raise BetavaeError(f"invalid vsa settings: {_describe(exc)}") from None


def load_vsa_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> VSAConfig:
    return build_vsa_config(read_yaml(path) if path is not None else {}, overrides)
