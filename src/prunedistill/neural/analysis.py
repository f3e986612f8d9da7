"""Per-area analyses of recorded (or simulated) responses, exactly as for network layers:
TwoNN ID of equal-N populations with phases along the area order, single-neuron information
with RF-based variables, and pseudo-population decoding.

Area results use the same tidy columns as layers (``network`` = dataset name, ``weights`` =
"recorded", ``role`` = "brain", ``layer`` = area, ``layer_index`` = its place in the
hierarchy; :mod:`prunedistill.analysis.tables`), so every summary and figure applies to
both. The phases along the areas come from the same function as those along layers
(:func:`prunedistill.analysis.summaries.phases`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import xarray as xr

from ..analysis.layers import DECODING_PROTOCOLS
from ..analysis.options import (
    DecodingOptions,
    DimensionOptions,
    InformationOptions,
    NeuralOptions,
    NoiseOptions,
)
from ..analysis.receptive_fields import fit_gaussian, localised_rf_maps
from ..analysis.tables import PIXELS, RECORDED, decoding_table, identity, unit_tables
from ..analysis.units import ORIENTATION_WAVELENGTH_DEG, analyse_layer, identity_information
from ..decoding import population_decoding
from ..dimension import twonn, twonn_resampled, twonn_scale
from ..stimuli.properties import orientation_energy
from ..stimuli.sets import decoding_labels
from .populations import complete_trials, equal_n_subsets, pseudo_population, trial_averaged
from .schema import areas_in_order

MIN_ID_STIMULI = 20  # fewer stimuli: an area's ID points are its single trials


def _identity(name: str, area: str, index: int) -> dict:
    return identity(name, RECORDED, area, index)


def area_points(ds: xr.Dataset, neurons: np.ndarray, construction: str,
                rng: np.random.Generator) -> np.ndarray:
    """The points ``(points, neurons)`` of one area by the chosen construction: one per
    stimulus (trial-averaged or a pseudo-population trial), or ``single_trials``: one per
    stimulus and complete trial (real population vectors for units recorded together)."""
    if construction == "trial_averaged":
        return trial_averaged(ds, neurons)
    if construction == "single_trials":
        counts = complete_trials(ds, neurons)  # (neurons, stimuli, trials)
        return counts.reshape(len(neurons), -1).T
    return pseudo_population(ds, neurons, rng)[0]


def area_dimension(ds: xr.Dataset, neural: NeuralOptions = NeuralOptions(),
                   dimension: DimensionOptions = DimensionOptions(), *,
                   images: np.ndarray | None = None, name: str = "neural", seed: int = 0
                   ) -> dict[str, pd.DataFrame]:
    """ID per area over ``neural.resamples`` equal-N neuron resamples (and of the pixels of
    the same stimuli, first in the order, when ``images (stimuli, y, x)`` is given and
    ``neural.include_pixels``). TwoNN uses ``dimension.fraction``; the scale analysis
    (``dimension.scale``, up to ``dimension.max_blocks``) runs on the first resample.

    Returns tables ``dimension`` (mean +- std over resamples), ``dimension_resamples`` and
    ``dimension_scale``; :func:`prunedistill.analysis.summaries.phases` finds the phases.
    With fewer than ``MIN_ID_STIMULI`` stimuli the points are single trials (the table's
    ``construction`` says so). An area whose points admit no estimate (too few, or tied
    neighbour distances) gets NaN with the reason in ``note``."""
    subsets, n = equal_n_subsets(ds, neural.n_neurons, neural.resamples, seed)
    rng = np.random.default_rng(seed)
    construction = neural.construction if ds.sizes["stimulus"] >= MIN_ID_STIMULI \
        else "single_trials"
    stages, values, scale_rows = [], [], []
    if images is not None and neural.include_pixels:
        pixels = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        resampled = twonn_resampled(pixels, fraction=dimension.fraction,
                                    repeats=neural.resamples, seed=seed)
        stages.append(PIXELS)
        values.append(resampled.values)
        if dimension.scale:
            scale_rows.append((PIXELS, twonn_scale(pixels, max_blocks=dimension.max_blocks,
                                                   fraction=dimension.fraction, seed=seed)))
    notes = {}
    for area in areas_in_order(ds):
        estimates = []
        try:
            for r, neurons in enumerate(subsets[area]):
                points = area_points(ds, neurons, construction, rng)
                estimates.append(twonn(points, fraction=dimension.fraction, device="cpu"))
                if r == 0 and dimension.scale:
                    scale_rows.append((area, twonn_scale(
                        points, max_blocks=dimension.max_blocks, fraction=dimension.fraction,
                        seed=seed, device="cpu")))
        except ValueError as error:  # no estimate for this area; the others go on
            notes[area] = str(error)
            scale_rows = [(stage, t) for stage, t in scale_rows if stage != area]
            estimates = []
        stages.append(area)
        values.append(np.array([e.dimension for e in estimates]))
    rows, resample_rows = [], []
    for index, (stage, v) in enumerate(zip(stages, values)):
        ident = _identity(name, stage, index)
        if stage in notes:
            rows.append({**ident, "id_mean": np.nan, "id_std": np.nan,
                         "n_neurons": n, "n_points": 0, "construction": construction,
                         "note": notes[stage]})
            continue
        rows.append({**ident, "id_mean": float(v.mean()), "id_std": float(v.std(ddof=1)),
                     "n_neurons": 0 if stage == PIXELS else n,
                     "n_points": len(area_points(ds, subsets[stage][0], construction, rng))
                     if stage != PIXELS else int(ds.sizes["stimulus"]),
                     "construction": "pixels" if stage == PIXELS else construction})
        resample_rows.append(pd.DataFrame({**ident, "repeat": np.arange(len(v)), "id": v}))
    tables = {"dimension": pd.DataFrame(rows)}
    if resample_rows:
        tables["dimension_resamples"] = pd.concat(resample_rows, ignore_index=True)
    if scale_rows:
        tables["dimension_scale"] = pd.concat(
            [t.assign(**_identity(name, stage, stages.index(stage))) for stage, t in scale_rows],
            ignore_index=True)
    return tables


def stimuli_of(ds: xr.Dataset, stimuli: xr.Dataset | None) -> xr.Dataset | None:
    """The stimulus set restricted to, and ordered as, the recorded stimuli (None for a
    recording analysed with its own stimulus table)."""
    if stimuli is None:
        return None
    if "stimulus_index" not in ds.coords:
        from .schema import attach_stimulus_coords

        ds = attach_stimulus_coords(ds, stimuli)
    return stimuli.isel(stimulus=ds["stimulus_index"].values)


def neuron_rf_maps(ds: xr.Dataset, stimuli: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """RF maps on the stimulus grid ``(neurons, y, x)`` from each neuron's bar-mapped
    ``rf_map`` by the 2D Gaussian fit (docs/science.md, section 4); neurons without a map or
    with a failed fit (R^2 <= 0.5, or a centre outside the mapped grid) get a full-field map.
    Also returns the fit R^2 (NaN without a map)."""
    n = ds.sizes["neuron"]
    shape = (n, stimuli.sizes["y"], stimuli.sizes["x"])
    if "rf_map" not in ds:
        return np.ones(shape, dtype=np.float32), np.full(n, np.nan)
    maps = np.nan_to_num(ds["rf_map"].values)
    fit = fit_gaussian(maps, ds["grid_x"].values, ds["grid_y"].values)
    return localised_rf_maps(fit, stimuli["x"].values, stimuli["y"].values), fit.r2


def area_information(ds: xr.Dataset, stimuli: xr.Dataset,
                     options: InformationOptions = InformationOptions(), *,
                     name: str = "neural", seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Single-neuron information (every term of
    :func:`prunedistill.analysis.units.analyse_units`) for every neuron, on its complete
    trials (the noise model does not apply to recorded trials); without a stimulus set
    (``stimuli`` None) only the stimulus information. Returns ``(units, sweep)`` tables with
    the identity columns."""
    options = replace(options, noise=NoiseOptions(kind="none"))
    shown = stimuli_of(ds, stimuli)
    if shown is None:  # the recording's own stimulus table: no images, no RF variables
        maps = r2 = energy = np.full(ds.sizes["neuron"], np.nan)
    else:
        maps, r2 = neuron_rf_maps(ds, shown)
        energy = orientation_energy(shown["images"].values, shown.attrs["deg_per_pixel"],
                                    ORIENTATION_WAVELENGTH_DEG)
    counts = ds["counts"].values
    per_neuron_trials = np.isfinite(counts).sum(axis=2).min(axis=1)
    units, sweeps = [], []
    for n_trials in np.unique(per_neuron_trials):
        neurons = np.flatnonzero(per_neuron_trials == n_trials)
        if shown is None:
            result = identity_information(
                complete_trials(ds, neurons), options, seed=seed,
                objects=ds["object"].values if "object" in ds.coords else None)
        else:
            result = analyse_layer(complete_trials(ds, neurons), shown, maps[neurons],
                                   options, seed=seed, energy_maps=energy)
        columns = pd.DataFrame({"unit": neurons, "neuron_id": ds["neuron_id"].values[neurons],
                                "area": ds["area"].values[neurons], "n_trials": int(n_trials),
                                "rf_fit_r2": r2[neurons]})
        frame, sweep = unit_tables(result, columns)
        units.append(frame)
        sweeps.append(sweep)
    units = pd.concat(units, ignore_index=True).sort_values("unit", kind="stable")
    area_index = {a: i for i, a in enumerate(ds.attrs["area_order"])}  # as in the full set
    units.insert(0, "layer_index", units["area"].map(area_index).astype(int))
    units.insert(0, "layer", units.pop("area"))
    for column, value in (("role", "brain"), ("weights", RECORDED), ("network", name)):
        units.insert(0, column, value)
    sweep = pd.concat(sweeps, ignore_index=True).merge(
        units[["unit", "network", "weights", "role", "layer", "layer_index"]], on="unit")
    sweep = sweep[["network", "weights", "role", "layer", "layer_index", "unit", "threshold",
                   "I_invariant"]]
    return (units.sort_values(["layer_index", "unit"], kind="stable").reset_index(drop=True),
            sweep.sort_values(["layer_index", "unit", "threshold"], kind="stable")
            .reset_index(drop=True))


def area_decoding(ds: xr.Dataset, stimuli: xr.Dataset, neural: NeuralOptions = NeuralOptions(),
                  decoding: DecodingOptions = DecodingOptions(), *, name: str = "neural",
                  areas=None, sizes=None, seed: int = 0) -> pd.DataFrame:
    """Pseudo-population decoding per area: ``neural.pseudo_trials`` single-trial vectors per
    stimulus, linear SVMs on ``decoding.resamples`` random populations of each size, both
    protocols. ``sizes`` defaults to the ``decoding.population_sizes`` not above the smallest
    area, so areas compare at equal N; ``areas`` to every area (each is seeded by its place
    in the order, so one area alone gives the same result)."""
    shown = stimuli_of(ds, stimuli)
    if shown is None and "object" in ds.coords:  # own table with objects: stimuli are views
        objects = np.unique(ds["object"].values, return_inverse=True)[1]
        views = np.zeros_like(objects)
        for code in np.unique(objects):
            views[objects == code] = np.arange((objects == code).sum())
        train_view = 0
        protocols = DECODING_PROTOCOLS if views.max() > 0 else ("separability",)
    elif shown is None:  # own stimulus table: the stimuli are the classes, no views
        objects = np.arange(ds.sizes["stimulus"])
        views, train_view, protocols = np.zeros_like(objects), 0, ("separability",)
    else:
        objects, views, train_view = decoding_labels(shown)
        protocols = DECODING_PROTOCOLS
    order = list(ds.attrs["area_order"])
    present = areas_in_order(ds)
    if sizes is None:
        smallest = min(int((ds["area"].values == a).sum()) for a in present)
        sizes = [s for s in decoding.population_sizes if s <= smallest]
    rows = []
    for area in areas or present:
        index = order.index(area)
        rng = np.random.default_rng([seed, index])
        neurons = np.flatnonzero(ds["area"].values == area)
        fewest = int(np.isfinite(ds["counts"].values[neurons]).sum(axis=2).min())
        repeats = neural.pseudo_trials
        if ds.sizes["stimulus"] < MIN_ID_STIMULI:  # few classes: decode every trial
            repeats = max(repeats, fewest)
        elif shown is None:  # no more pseudo-trials than trials: no duplicated samples
            repeats = min(repeats, fewest)
        points, _ = pseudo_population(ds, neurons, rng, repeats)
        labels = np.repeat(objects, repeats)
        sample_views = np.repeat(views, repeats)
        for protocol in protocols:
            result = population_decoding(points.T, labels, sample_views, sizes=sizes,
                                         n_resamples=decoding.resamples, protocol=protocol,
                                         train_view=train_view, seed=seed + index)
            rows.append(decoding_table(result, protocol, **_identity(name, area, index),
                                       n_units=list(sizes)))
    return pd.concat(rows, ignore_index=True)
