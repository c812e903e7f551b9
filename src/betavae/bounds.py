"""Range-checked number types shared by the config models (pydantic ``Field`` constraints).

Every weight, capacity, rate, probability, count and seed of a config is one of these (or a
``PositiveInt``/``PositiveFloat``), so a bad value is refused when the config is loaded (and by
a sweep's ``--dry-run``) with the key named, instead of training on it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

#: a random seed (NumPy generators refuse negative ones)
Seed = Annotated[int, Field(ge=0)]
#: a weight, noise level, rate or length that may be zero
NonNegative = Annotated[float, Field(ge=0.0)]
#: a scale or length that must be positive
Positive = Annotated[float, Field(gt=0.0)]
#: a probability or fraction
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: an Adam moment coefficient β₁ or β₂ (Kingma & Ba 2015: in [0, 1))
AdamBeta = Annotated[float, Field(ge=0.0, lt=1.0)]
#: a count of at least one (steps, items, keys)
Count = Annotated[int, Field(ge=1)]
