"""The study config: one YAML file, validated by a schema, with the shipped default study.

Every section maps onto one pipeline stage or analysis; every random choice takes its seed
from ``seed``. Unknown keys and wrong types raise :class:`ConfigError` naming the key and the
allowed values.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._validation import PrunedistillError
from .analysis.options import (
    ComparisonOptions,
    DecodingOptions,
    DimensionOptions,
    InformationOptions,
    NeuralOptions,
    options_from,
)

DEFAULT_STUDY = "default_study.yaml"
# The studies `prunedistill init --study NAME` writes: name -> packaged YAML.
STUDIES = {"default": DEFAULT_STUDY, "imagenet": "imagenet_study.yaml"}
POINT_SETS = ("training", "stimuli")
EMBEDDED_INSTANCES = ("trained:0", "trained:1", "trained:2")
# TwoNN with error bars: 90 % subsets and the smallest 90 % of mu leave about 16 ratios at 20
# points, the least that gives a usable fit (hundreds are better).
MIN_ID_POINTS = 20


class ConfigError(PrunedistillError, ValueError):
    """A study config that does not validate; the message lists every problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    OPTIONS: ClassVar[type | None] = None  # the analysis options this section becomes

    def options(self):
        """The section as its typed analysis options (same key names)."""
        if self.OPTIONS is None:
            raise TypeError(f"{type(self).__name__} has no analysis options.")
        return options_from(self.OPTIONS, self.model_dump(mode="json"))


class StimuliConfig(_Section):
    """The stimulus set every network sees, each at its own input size (docs/science.md,
    section 2)."""

    set: Literal["tafazoli", "folder"] = "tafazoli"
    size: int = Field(64, ge=8, le=1024, description="image size in pixels for networks that "
                      "take any size, recordings and the report; a network with a fixed "
                      "input gets the set at that size")
    field_deg: float = Field(120.0, gt=0, description="visual angle of the image width")
    supersample: int = Field(2, ge=1, le=8)
    objects: list[str] | None = Field(None, description="tafazoli: mesh names (default the "
                                      "6 natural + 4 procedural reference objects)")
    folder: str | None = Field(None, description="folder: the image folder")
    metadata: str | None = Field(None, description="folder: CSV (default FOLDER/metadata.csv)")
    grayscale: bool = Field(False, description="folder: convert colour images to luma (for "
                            "gray networks such as the embedded CNN)")

    @field_validator("folder")
    @classmethod
    def _folder_exists(cls, value):
        if value is not None and not Path(value).is_dir():
            raise ValueError(f"folder {value!r} does not exist")
        return value


class NetworkConfig(_Section):
    """One architecture: its trained weights and its untrained twins."""

    model: str = Field("embedded", description="embedded, a torchvision name, "
                       "efficientnet_lite0, timm:NAME, package.module:factory or "
                       "file.py:factory (next to the config)")
    trained: str | list[str] | None = Field(
        "trained", description="the trained instance(s): 'trained' (committed or torch hub "
        "cache file), 'trained:<seed>' (the embedded CNN's committed instances), a weights "
        "file path, a list of these (instances compared at the network level), or null")
    untrained_seeds: list[int] = Field([0, 1, 2], description="seeds of the untrained twins")
    layers: str | list[str] = Field("checkpoints", description="'checkpoints', 'all' or "
                                    "a list of layer names")
    label: str | None = Field(None, description="name in the report (default: model)")
    arguments: dict = Field({}, description="keyword arguments of the model's constructor or "
                            "factory")
    preprocessing: dict | None = Field(None, description="declared over the network's own: "
                                       "size, resize_size, channels, mean, std, "
                                       "interpolation, field_deg")

    @property
    def name(self) -> str:
        return self.label or self.model

    @field_validator("trained")
    @classmethod
    def _distinct_instances(cls, value):
        if isinstance(value, list):
            if not value:
                raise ValueError("an empty list of trained instances: give null for none")
            repeated = sorted({v for v in value if value.count(v) > 1})
            if repeated:
                raise ValueError(f"trained instances listed twice: {repeated}")
        return value

    @field_validator("untrained_seeds")
    @classmethod
    def _distinct_seeds(cls, value):
        if len(set(value)) != len(value):
            raise ValueError(f"untrained seeds listed twice: {value}")
        return value

    @property
    def trained_specs(self) -> list[str]:
        """The weights specs of the trained instances (none, one or several)."""
        if self.trained is None:
            return []
        return [self.trained] if isinstance(self.trained, str) else list(self.trained)

    @property
    def input_spec(self) -> str:
        """The weights spec that picks the network's preprocessing (its trained weights)."""
        return self.trained_specs[0] if self.trained_specs else "untrained:0"

    @property
    def weight_specs(self) -> list[str]:
        return self.trained_specs + [f"untrained:{seed}" for seed in self.untrained_seeds]


class ExtractionConfig(_Section):
    batch_size: int = Field(32, ge=1)
    device: str | None = Field(None, description="cpu or cuda (default: cuda when present)")


class DimensionConfig(_Section):
    """TwoNN of every layer (docs/science.md, section 3)."""

    OPTIONS: ClassVar[type | None] = DimensionOptions

    points: str = Field(
        "training", description="'training': n_points held-out renders of the training "
        "stream (random views of the 50 training objects, as Ansuini et al. used training "
        "images); 'stimuli': the study's stimuli are the points; a folder: every image in "
        f"it (natural images; at least {MIN_ID_POINTS}), fitted to each network's input")
    n_points: int = Field(1000, ge=MIN_ID_POINTS, description="training: number of points")

    @property
    def points_folder(self) -> Path | None:
        """The folder of images that ``points`` names, or None for 'training' / 'stimuli'."""
        return None if self.points in POINT_SETS else Path(self.points)

    @field_validator("points")
    @classmethod
    def _points_named(cls, value):
        if not value.strip():
            raise ValueError(f"empty: give {' or '.join(POINT_SETS)} or a folder of images")
        return value
    fraction: float = Field(0.9, gt=0, le=1)
    subset: float = Field(0.9, gt=0, le=1, description="fraction of points per repeat")
    repeats: int = Field(50, ge=2)
    scale: bool = True
    max_blocks: int = Field(20, ge=1)
    alpha: float = Field(0.05, gt=0, lt=1, description="phase steps: Holm-corrected level")


class NoiseConfig(_Section):
    kind: Literal["none", "poisson"] = "none"
    n_trials: int = Field(26, ge=1)
    peak_rate: float = Field(10.0, gt=0, description="spikes per trial at the peak response")


class InformationConfig(_Section):
    """Single-unit information (docs/science.md, section 4)."""

    OPTIONS: ClassVar[type | None] = InformationOptions

    units_per_layer: int = Field(500, ge=2, description="random units analysed per layer")
    n_bins: int = Field(3, ge=2)
    luminance_bins: int = Field(23, ge=2)
    bias_correction: Literal["pt", "pt_observed", "qe", "none"] = Field(
        "pt", description="pt: Panzeri-Treves with the Bayesian count of relevant bins; "
        "pt_observed: PT counting the observed bins; qe: quadratic extrapolation; none")
    qe_repartitions: int = Field(10, ge=1, description="qe: stratified repartitions averaged")
    shuffles: int = Field(100, ge=0, description="label permutations: the shuffle null and "
                          "the permutation p-values")
    null_model: Literal["shuffles", "exact"] = Field(
        "shuffles", description="shuffles: subtract the corrected estimate's mean over the "
        "shuffles; exact: its mean over all permutations (no shuffles needed for the "
        "estimate; p-values only when shuffles > 0)")
    invariance_threshold: float = Field(0.9, ge=0, le=1)
    invariance_sweep: list[float] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    receptive_fields: Literal["bars", "gradient", "full_field"] = "bars"
    noise: NoiseConfig = NoiseConfig()
    alpha: float = Field(0.05, gt=0, lt=1)
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:[0-9]+)?)$", description="cpu "
                        "(numpy), or cuda[:N]: the GEMMs of the shuffles and of the RF "
                        "variables on that GPU (same results, to rounding)")

    @field_validator("null_model")
    @classmethod
    def _exact_null_needs_pt(cls, null_model, info):
        if null_model == "exact" and info.data.get("bias_correction") == "qe":
            raise ValueError("the exact null is defined for bias_correction pt, pt_observed "
                             "and none; with qe use null_model: shuffles")
        return null_model


class DecodingConfig(_Section):
    """Invariant object discrimination (docs/science.md, section 5)."""

    OPTIONS: ClassVar[type | None] = DecodingOptions

    enabled: bool = True
    single_units: int = Field(100, ge=0, description="units per layer with single-unit "
                              "decoders (0: none)")
    single_unit_shuffles: int = Field(2, ge=0)
    population_sizes: list[int] = [6, 12, 24, 48, 96]
    resamples: int = Field(10, ge=1, description="random populations per size (docs/science.md "
                           "suggests 50; 10 keeps the default study within 10 minutes)")
    folds: int = Field(5, ge=2)


class NeuralDatasetConfig(_Section):
    path: str = Field(description="a .npz, brain-score .nc or .nwb file of responses to the "
                      "study's stimuli")
    label: str | None = Field(None, description="name in the report (default: file stem)")
    area_order: list[str] | None = Field(None, description="the hierarchy (default: the "
                                         "file's own)")
    intervals: str = Field("trials", description="NWB: the presentation table")
    stimulus_column: str = Field("stimulus_id", description="NWB: its stimulus column")
    object_column: str | None = Field(None, description="NWB: its column naming each "
                                      "stimulus's object or category")
    area_column: str | None = Field(None, description="NWB: the units' area column (default: "
                                    "area/location/brain_area, else electrodes.location)")
    window_ms: float = Field(150.0, gt=0, description="NWB: spike-count window after the "
                             "latency")
    latency: Literal["estimated"] | float = Field(
        "estimated", description="NWB: 'estimated' per neuron, or a fixed latency in ms")
    drop_unassigned: bool = Field(False, description="NWB: drop units with no area")

    @field_validator("latency")
    @classmethod
    def _latency(cls, value):
        if not isinstance(value, str) and value < 0:
            raise ValueError("a fixed latency is a number of ms >= 0 (or 'estimated')")
        return value

    def nwb_options(self):
        """The NWB reader's options of this dataset."""
        from .neural.nwb import NWBOptions

        return NWBOptions(intervals=self.intervals, stimulus_column=self.stimulus_column,
                          object_column=self.object_column, area_column=self.area_column,
                          window_ms=self.window_ms,
                          latency=self.latency, drop_unassigned=self.drop_unassigned)

    @property
    def name(self) -> str:
        return self.label or Path(self.path).stem

    @field_validator("path")
    @classmethod
    def _exists(cls, value):
        if not Path(value).is_file():
            raise ValueError(f"no neural data file at {value!r}")
        return value


class NeuralConfig(_Section):
    """Recorded areas analysed like layers, and compared with them (docs/science.md,
    sections 3-5)."""

    OPTIONS: ClassVar[type | None] = NeuralOptions

    datasets: list[NeuralDatasetConfig] = []
    construction: Literal["trial_averaged", "pseudo_population"] = "trial_averaged"
    n_neurons: int | None = Field(None, ge=2, description="neurons per area (default 90 % "
                                  "of the smallest area)")
    resamples: int = Field(20, ge=2, description="equal-N neuron resamples per area")
    include_pixels: bool = True
    pseudo_trials: int = Field(3, ge=1, description="decoding: pseudo-trials per stimulus")
    decoding: bool = True


class ComparisonConfig(_Section):
    OPTIONS: ClassVar[type | None] = ComparisonOptions
    alpha: float = Field(0.05, gt=0, lt=1)
    bootstrap: int = Field(1000, ge=10, description="resamples for the SE of medians")
    coupling_permutations: int = Field(10_000, ge=10)


class ExecutorConfig(_Section):
    kind: Literal["local", "dask"] = "local"
    workers: int = Field(2, ge=1, description="local: processes (1 = in this process)")
    address: str | None = Field(None, description="dask: scheduler address tcp://HOST:PORT")


class StudyConfig(_Section):
    name: str = "default"
    seed: int = 0
    output: str = "results/default"
    stimuli: StimuliConfig = StimuliConfig()
    # The embedded CNN's three committed instances: the network-level tests need several.
    networks: list[NetworkConfig] = [NetworkConfig(trained=list(EMBEDDED_INSTANCES))]
    extraction: ExtractionConfig = ExtractionConfig()
    dimension: DimensionConfig = DimensionConfig()
    information: InformationConfig = InformationConfig()
    decoding: DecodingConfig = DecodingConfig()
    comparison: ComparisonConfig = ComparisonConfig()
    executor: ExecutorConfig = ExecutorConfig()
    neural: NeuralConfig = NeuralConfig()

    @field_validator("networks")
    @classmethod
    def _distinct_names(cls, networks):
        if not networks:
            raise ValueError("list at least one network")
        names = [n.name for n in networks]
        if len(set(names)) != len(names):
            raise ValueError(f"network names {names} repeat; give each a distinct `label`")
        return networks


def _section_class(loc: tuple) -> type[BaseModel] | None:
    """The schema class that owns the key at ``loc`` (for listing allowed keys)."""
    cls: type[BaseModel] = StudyConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        found = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        if not found:
            return None
        cls = found[0]
    return cls


def _describe(error: dict) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        owner = _section_class(error["loc"])
        allowed = ", ".join(owner.model_fields) if owner else "?"
        return f"{key}: unknown key; allowed here: {allowed}"
    given = error.get("input")
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    return f"{key}: {error['msg']}{shown}"


def validate_config(data: dict | None, source: str = "config") -> StudyConfig:
    """A :class:`StudyConfig` from parsed YAML, or :class:`ConfigError` listing problems."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections; "
                          f"got {type(data).__name__}.")
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as error:
        lines = "\n".join(f"  - {_describe(e)}" for e in error.errors())
        raise ConfigError(f"{source} has {error.error_count()} problem(s):\n{lines}") from None


def _beside(config: StudyConfig, folder: Path) -> StudyConfig:
    """Factories named by a file next to the config (``file.py:factory`` or
    ``module:factory`` with ``module.py`` there) resolved to that file's absolute path, and
    a relative ``dimension.points`` folder found next to the config made absolute."""
    networks = []
    for network in config.networks:
        model = network.model
        module, _, attribute = model.rpartition(":")
        if module and attribute and not model.startswith("timm:"):
            file = Path(module) if module.endswith(".py") else Path(module.replace(".", "/")
                                                                    + ".py")
            if not file.is_absolute() and (folder / file).is_file():
                model = f"{(folder / file).resolve()}:{attribute}"
        networks.append(network.model_copy(update={"model": model}))
    points = config.dimension.points_folder
    if points is not None and not points.is_absolute() and (folder / points).is_dir():
        dimension = config.dimension.model_copy(
            update={"points": str((folder / points).resolve())})
        config = config.model_copy(update={"dimension": dimension})
    return config.model_copy(update={"networks": networks})


def load_config(path) -> StudyConfig:
    """Read and validate a study YAML file (a model factory in a file next to it is found
    there)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file at {path}; `prunedistill init {path}` writes the "
                          "default study there for editing.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return _beside(validate_config(data, str(path)), path.parent)


def default_config_text() -> str:
    """The shipped default study YAML, with its comments."""
    return study_text("default")


def study_text(name: str) -> str:
    """A shipped study's YAML (:data:`STUDIES`), with its comments."""
    if name not in STUDIES:
        raise ConfigError(f"no shipped study named {name!r}; the shipped studies: "
                          f"{', '.join(STUDIES)}.")
    return resources.files("prunedistill").joinpath(STUDIES[name]).read_text()


def shipped_config(name: str) -> StudyConfig:
    """A shipped study, validated."""
    return validate_config(yaml.safe_load(study_text(name)), f"the {name} study")


def default_config() -> StudyConfig:
    return shipped_config("default")


def section_dict(section: BaseModel) -> dict:
    """A section as plain JSON-able data (for cache keys and metadata)."""
    return section.model_dump(mode="json")
