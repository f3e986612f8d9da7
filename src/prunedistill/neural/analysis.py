"""Per-area analyses of recorded (or simulated) responses, exactly as for network layers:
TwoNN ID of equal-N populations with phases along the area order, single-neuron information
with RF-based variables, and pseudo-population decoding.

Area results use the same tidy columns as layers (``network`` = dataset name, ``weights`` =
"recorded", ``role`` = "brain", ``layer`` = area, ``layer_index`` = its place in the
hierarchy), so every table, summary and figure of the report applies to both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..dimension import expansion_contraction_phases, twonn, twonn_resampled, twonn_scale
from .populations import complete_trials, equal_n_subsets, pseudo_population, trial_averaged
from .schema import areas_in_order

PIXELS = "pixels"


@dataclass(frozen=True)
class NeuralAnalysisConfig:
    """Options of the per-area analyses (defaults as SCIENCE.md, section 3-5)."""

    construction: str = "trial_averaged"  # or "pseudo_population"
    n_neurons: int | None = None  # per area; default the smallest area
    n_resamples: int = 20
    fraction: float = 0.9
    scale: bool = True
    max_blocks: int = 20
    include_pixels: bool = True
    alpha: float = 0.05
    decoding_sizes: tuple[int, ...] = (6, 12, 24, 48, 96)
    decoding_resamples: int = 10
    pseudo_trials: int = 3
    seed: int = 0

    def __post_init__(self):
        if self.construction not in ("trial_averaged", "pseudo_population"):
            raise ValueError(f"construction must be 'trial_averaged' or 'pseudo_population'; "
                             f"got {self.construction!r}.")


def _base(name: str, area: str, index: int) -> dict:
    return {"network": name, "weights": "recorded", "role": "brain", "layer": area,
            "layer_index": index}


def area_points(ds: xr.Dataset, neurons: np.ndarray, construction: str,
                rng: np.random.Generator) -> np.ndarray:
    """One point per stimulus ``(stimuli, neurons)`` by the chosen construction."""
    if construction == "trial_averaged":
        return trial_averaged(ds, neurons)
    return pseudo_population(ds, neurons, rng)[0]


def area_dimension(ds: xr.Dataset, config: NeuralAnalysisConfig = NeuralAnalysisConfig(), *,
                   images: np.ndarray | None = None, name: str = "neural"
                   ) -> dict[str, pd.DataFrame]:
    """ID per area over equal-N neuron resamples (and of the pixels of the same stimuli,
    first in the order, when ``images (stimuli, y, x)`` is given).

    Returns tables ``dimension`` (mean +- std over resamples), ``dimension_resamples``,
    ``dimension_scale`` (on the first resample), ``dimension_steps`` and
    ``dimension_phases``."""
    subsets, n = equal_n_subsets(ds, config.n_neurons, config.n_resamples, config.seed)
    rng = np.random.default_rng(config.seed)
    stages, values, scale_rows = [], [], []
    if images is not None and config.include_pixels:
        pixels = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        resampled = twonn_resampled(pixels, fraction=config.fraction,
                                    repeats=config.n_resamples, seed=config.seed)
        stages.append(PIXELS)
        values.append(resampled.values)
        if config.scale:
            scale_rows.append((PIXELS, twonn_scale(pixels, max_blocks=config.max_blocks,
                                                   fraction=config.fraction,
                                                   seed=config.seed)))
    for area in areas_in_order(ds):
        estimates = []
        for r, neurons in enumerate(subsets[area]):
            points = area_points(ds, neurons, config.construction, rng)
            estimates.append(twonn(points, fraction=config.fraction, device="cpu"))
            if r == 0 and config.scale:
                scale_rows.append((area, twonn_scale(points, max_blocks=config.max_blocks,
                                                     fraction=config.fraction,
                                                     seed=config.seed, device="cpu")))
        stages.append(area)
        values.append(np.array([e.dimension for e in estimates]))
    rows, resample_rows = [], []
    for index, (stage, v) in enumerate(zip(stages, values)):
        base = _base(name, stage, index)
        rows.append({**base, "id_mean": float(v.mean()), "id_std": float(v.std(ddof=1)),
                     "n_neurons": 0 if stage == PIXELS else n,
                     "n_points": int(ds.sizes["stimulus"]),
                     "construction": "pixels" if stage == PIXELS else config.construction})
        resample_rows.append(pd.DataFrame({**base, "repeat": np.arange(len(v)), "id": v}))
    scale = pd.concat([t.assign(**_base(name, stage, stages.index(stage)))
                       for stage, t in scale_rows], ignore_index=True) if scale_rows else None
    analysis = expansion_contraction_phases(values, stages, alpha=config.alpha)
    phases = pd.DataFrame([{"network": name, "weights": "recorded", "phase": i + 1,
                            "start": p.start_name, "peak": p.peak_name, "end": p.end_name,
                            "start_index": p.start, "peak_index": p.peak,
                            "end_index": p.end} for i, p in enumerate(analysis.phases)],
                          columns=["network", "weights", "phase", "start", "peak", "end",
                                   "start_index", "peak_index", "end_index"])
    tables = {"dimension": pd.DataFrame(rows),
              "dimension_resamples": pd.concat(resample_rows, ignore_index=True),
              "dimension_steps": analysis.steps.assign(network=name, weights="recorded"),
              "dimension_phases": phases}
    if scale is not None:
        tables["dimension_scale"] = scale
    return tables


def stimuli_of(ds: xr.Dataset, stimuli: xr.Dataset) -> xr.Dataset:
    """The stimulus set restricted to, and ordered as, the recorded stimuli."""
    if "stimulus_index" not in ds.coords:
        from .schema import attach_stimulus_coords

        ds = attach_stimulus_coords(ds, stimuli)
    return stimuli.isel(stimulus=ds["stimulus_index"].values)


def neuron_rf_maps(ds: xr.Dataset, stimuli: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """RF maps on the stimulus grid ``(neurons, y, x)`` from each neuron's bar-mapped
    ``rf_map`` by the 2D Gaussian fit (SCIENCE.md 4); neurons without a map or with a
    fit R^2 <= 0.5 get a full-field map. Also returns the fit R^2 (NaN without a map)."""
    from ..receptive_fields import fit_gaussian, localised_rf_maps

    n = ds.sizes["neuron"]
    shape = (n, stimuli.sizes["y"], stimuli.sizes["x"])
    if "rf_map" not in ds:
        return np.ones(shape, dtype=np.float32), np.full(n, np.nan)
    maps = np.nan_to_num(ds["rf_map"].values)
    fit = fit_gaussian(maps, ds["grid_x"].values, ds["grid_y"].values)
    return localised_rf_maps(fit, stimuli["x"].values, stimuli["y"].values), fit.r2


def area_information(ds: xr.Dataset, stimuli: xr.Dataset, unit_config=None, *,
                     name: str = "neural") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Single-neuron information (every term of :func:`analyse_units`) for every neuron,
    on its complete trials. Returns ``(units, sweep)`` tables with the layer columns."""
    from ..stimuli.properties import orientation_energy
    from ..unit_analysis import UnitAnalysisConfig, analyse_layer

    unit_config = unit_config or UnitAnalysisConfig()
    shown = stimuli_of(ds, stimuli)
    maps, r2 = neuron_rf_maps(ds, shown)
    energy = orientation_energy(shown["images"].values, shown.attrs["deg_per_pixel"],
                                unit_config.orientation_wavelength_deg)
    counts = ds["counts"].values
    per_neuron_trials = np.isfinite(counts).sum(axis=2).min(axis=1)
    units, sweeps = [], []
    for n_trials in np.unique(per_neuron_trials):
        neurons = np.flatnonzero(per_neuron_trials == n_trials)
        table = analyse_layer(complete_trials(ds, neurons), shown, maps[neurons], unit_config,
                              energy_maps=energy)
        frame = pd.DataFrame({"unit": neurons, "neuron_id": ds["neuron_id"].values[neurons],
                              "area": ds["area"].values[neurons], "n_trials": int(n_trials),
                              "rf_fit_r2": r2[neurons]})
        for var, values in table.data_vars.items():
            if values.dims == ("unit",):
                frame[var] = values.values
        units.append(frame)
        sweep = table["I_invariant_sweep"]
        sweeps.append(pd.DataFrame({
            "unit": np.repeat(neurons, sweep.sizes["threshold"]),
            "threshold": np.tile(sweep["threshold"].values, len(neurons)),
            "I_invariant": sweep.values.ravel()}))
    units = pd.concat(units, ignore_index=True).sort_values("unit", kind="stable")
    area_index = {a: i for i, a in enumerate(ds.attrs["area_order"])}  # as in the full set
    for table in (units,):
        table.insert(0, "layer_index", table["area"].map(area_index).astype(int))
        table.insert(0, "layer", table.pop("area"))
        for column, value in (("role", "brain"), ("weights", "recorded"), ("network", name)):
            table.insert(0, column, value)
    sweep = pd.concat(sweeps, ignore_index=True).merge(
        units[["unit", "network", "weights", "role", "layer", "layer_index"]], on="unit")
    sweep = sweep[["network", "weights", "role", "layer", "layer_index", "unit", "threshold",
                   "I_invariant"]]
    return (units.sort_values(["layer_index", "unit"], kind="stable").reset_index(drop=True),
            sweep.sort_values(["layer_index", "unit", "threshold"], kind="stable")
            .reset_index(drop=True))


def area_decoding(ds: xr.Dataset, stimuli: xr.Dataset,
                  config: NeuralAnalysisConfig = NeuralAnalysisConfig(), *,
                  name: str = "neural", areas=None, sizes=None) -> pd.DataFrame:
    """Pseudo-population decoding per area: ``pseudo_trials`` single-trial vectors per
    stimulus, linear SVMs on random populations of each size, both protocols. ``sizes``
    defaults to those not above the smallest area, so areas compare at equal N; ``areas``
    to every area (each is seeded by its place in the order, so one area alone gives the
    same result)."""
    from ..decoding import population_decoding
    from ..pipeline.tasks import decoding_labels

    objects, views, train_view = decoding_labels(stimuli_of(ds, stimuli))
    order = list(ds.attrs["area_order"])
    present = areas_in_order(ds)
    if sizes is None:
        smallest = min(int((ds["area"].values == a).sum()) for a in present)
        sizes = [s for s in config.decoding_sizes if s <= smallest]
    rows = []
    for area in areas or present:
        index = order.index(area)
        rng = np.random.default_rng([config.seed, index])
        neurons = np.flatnonzero(ds["area"].values == area)
        points, _ = pseudo_population(ds, neurons, rng, config.pseudo_trials)
        labels = np.repeat(objects, config.pseudo_trials)
        sample_views = np.repeat(views, config.pseudo_trials)
        for protocol in ("separability", "generalisation"):
            result = population_decoding(points.T, labels, sample_views, sizes=sizes,
                                         n_resamples=config.decoding_resamples,
                                         protocol=protocol, train_view=train_view,
                                         seed=config.seed + index)
            rows.append(pd.DataFrame({
                **_base(name, area, index), "n_units": list(sizes), "protocol": protocol,
                "percent_correct": result.percent_correct, "information": result.information,
                "chance_percent_correct": result.chance_percent_correct,
                "chance_information": result.chance_information}))
    return pd.concat(rows, ignore_index=True)
