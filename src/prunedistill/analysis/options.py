"""Analysis options, one frozen dataclass per section of the study config.

Every field has the name and the default of its YAML key (``information.shuffles`` is
``InformationOptions.shuffles``), so a key found in a config file greps straight to the code
that uses it. ``prunedistill.config`` validates the YAML and builds these; a test checks that
the two agree key by key. The seed is not an option of any section: analyses take it as an
argument (the study's top-level ``seed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

NEURAL_CONSTRUCTIONS = ("trial_averaged", "pseudo_population")


@dataclass(frozen=True)
class NoiseOptions:
    """``information.noise``: trial-to-trial variability given to deterministic units.
    ``kind`` "poisson": the activation is mapped linearly onto 0..``peak_rate`` spikes and
    each of ``n_trials`` trials is a Poisson draw with that mean (docs/science.md, 4)."""

    kind: str = "none"
    n_trials: int = 26
    peak_rate: float = 10.0


@dataclass(frozen=True)
class InformationOptions:
    """``information``: single-unit information (docs/science.md, section 4)."""

    units_per_layer: int = 500
    n_bins: int = 3
    luminance_bins: int = 23
    bias_correction: str = "pt"
    qe_repartitions: int = 10
    shuffles: int = 100
    null_model: str = "shuffles"
    invariance_threshold: float = 0.9
    invariance_sweep: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    receptive_fields: str = "bars"
    noise: NoiseOptions = field(default_factory=NoiseOptions)
    alpha: float = 0.05
    device: str = "cpu"


@dataclass(frozen=True)
class DimensionOptions:
    """``dimension``: TwoNN of every layer or area (docs/science.md, section 3)."""

    points: str = "training"
    n_points: int = 1000
    fraction: float = 0.9
    subset: float = 0.9
    repeats: int = 50
    scale: bool = True
    max_blocks: int = 20
    alpha: float = 0.05


@dataclass(frozen=True)
class DecodingOptions:
    """``decoding``: invariant object discrimination (docs/science.md, section 5)."""

    enabled: bool = True
    single_units: int = 100
    single_unit_shuffles: int = 2
    population_sizes: tuple[int, ...] = (6, 12, 24, 48, 96)
    resamples: int = 10
    folds: int = 5


@dataclass(frozen=True)
class NeuralOptions:
    """``neural`` (without its ``datasets``): how recorded areas become points and
    populations (docs/science.md, sections 3 and 5)."""

    construction: str = "trial_averaged"
    n_neurons: int | None = None
    resamples: int = 20
    include_pixels: bool = True
    pseudo_trials: int = 3
    decoding: bool = True

    def __post_init__(self):
        if self.construction not in NEURAL_CONSTRUCTIONS:
            raise ValueError(f"neural.construction must be one of {NEURAL_CONSTRUCTIONS}; "
                             f"got {self.construction!r}.")


@dataclass(frozen=True)
class ComparisonOptions:
    """``comparison``: trained vs untrained statistics (docs/science.md, section 4)."""

    alpha: float = 0.05
    bootstrap: int = 1000
    coupling_permutations: int = 10_000


def options_from(cls, data: dict):
    """An options dataclass from a section's plain data (keys it does not have are left
    out: ``neural.datasets`` is not an analysis option); tuples for lists, nested noise."""
    names = {f.name for f in fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in names:
            continue
        if isinstance(value, list):
            value = tuple(value)
        if key == "noise" and isinstance(value, dict):
            value = NoiseOptions(**value)
        values[key] = value
    return cls(**values)
