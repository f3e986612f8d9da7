"""A planted-truth population for validation and demos (always marked ``synthetic``).

Each simulated neuron has a Gaussian RF (area-specific size) and a drive that mixes three
components with area-specific weights:

* luminance: the standardised RF luminance of the stimulus (what V1-like units carry);
* object: a random tuning over objects, the same for every view (view-invariant identity);
* shape: a random value per stimulus (view-specific shape selectivity, luminance-free);

``rate = baseline + (peak - baseline) * sigmoid(gain * drive)``, and each trial is a Poisson
count with that mean. The planted quantities are returned with the responses, so analyses can
be checked against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..analysis.receptive_fields import GaussianFit, gaussian_rf_maps
from ..stimuli.properties import rf_luminance
from .schema import neural_responses, stimulus_ids

# The RF-mapping grid of the rat recordings: 6 x 11 cells of 10 deg.
GRID_AZIMUTH_DEG = np.arange(-50.0, 51.0, 10.0)
GRID_ELEVATION_DEG = np.arange(25.0, -26.0, -10.0)


@dataclass(frozen=True)
class AreaModel:
    """Planted parameters of one area (weights are in units of the standardised drive)."""

    name: str
    n_neurons: int
    rf_sigma_deg: float
    luminance_weight: float
    object_weight: float
    shape_weight: float


# Shaped like the reference study: 4 areas, 131-260 neurons, luminance drive falling and
# object drive rising along V1 -> LM -> LI -> LL, RFs growing.
RAT_LIKE = (
    AreaModel("V1", 228, 7.0, 1.2, 0.05, 0.35),
    AreaModel("LM", 131, 9.0, 0.9, 0.15, 0.4),
    AreaModel("LI", 260, 12.0, 0.6, 0.3, 0.45),
    AreaModel("LL", 152, 16.0, 0.25, 0.6, 0.45),
)


def _rates(drive: np.ndarray, baseline: float, peak: float, gain: float) -> np.ndarray:
    return baseline + (peak - baseline) / (1.0 + np.exp(-gain * drive))


def simulate_population(stimuli: xr.Dataset, areas: Sequence[AreaModel] = RAT_LIKE, *,
                        n_trials: int = 26, baseline_rate: float = 1.0,
                        peak_rate: float = 10.0, gain: float = 1.5,
                        rf_azimuth_range=(-30.0, 30.0), rf_elevation_range=(-10.0, 10.0),
                        rf_map_noise: float = 0.05, seed: int = 0
                        ) -> tuple[xr.Dataset, pd.DataFrame]:
    """Simulated ``NeuralResponses`` on ``stimuli`` and the planted per-neuron table.

    ``counts[neuron, stimulus, trial]`` are Poisson spike counts; ``rf_map`` is each
    neuron's Gaussian RF sampled on the 6 x 11 bar grid with multiplicative noise (as a
    mapping experiment would give). Areas are ordered as given.
    """
    rng = np.random.default_rng(seed)
    images = stimuli["images"].values
    objects = np.unique(stimuli["object"].values, return_inverse=True)[1]
    counts, planted, rf_maps = [], [], []
    for area in areas:
        n = area.n_neurons
        centre_x = rng.uniform(*rf_azimuth_range, n)
        centre_y = rng.uniform(*rf_elevation_range, n)
        sigma = area.rf_sigma_deg * rng.uniform(0.8, 1.25, n)
        fit = GaussianFit(centre_x, centre_y, sigma, sigma, np.ones(n), np.zeros(n),
                          np.ones(n))
        maps = gaussian_rf_maps(fit, stimuli["x"].values, stimuli["y"].values)
        luminance = rf_luminance(images, maps)  # (n, stimuli)
        spread = luminance.std(axis=1, keepdims=True)
        z_luminance = (luminance - luminance.mean(axis=1, keepdims=True)) / np.where(
            spread > 0, spread, 1.0)
        object_tuning = rng.standard_normal((n, objects.max() + 1))[:, objects]
        shape_tuning = rng.standard_normal((n, len(objects)))
        drive = (area.luminance_weight * z_luminance + area.object_weight * object_tuning
                 + area.shape_weight * shape_tuning)
        rate = _rates(drive, baseline_rate, peak_rate, gain)
        counts.append(rng.poisson(rate[:, :, None], size=rate.shape + (n_trials,)))
        grid = gaussian_rf_maps(fit, GRID_AZIMUTH_DEG, GRID_ELEVATION_DEG).astype(np.float64)
        rf_maps.append(grid * rng.uniform(1 - rf_map_noise, 1 + rf_map_noise, grid.shape))
        planted.append(pd.DataFrame({
            "area": area.name, "rf_azimuth_deg": centre_x, "rf_elevation_deg": centre_y,
            "rf_sigma_deg": sigma, "luminance_weight": area.luminance_weight,
            "object_weight": area.object_weight, "shape_weight": area.shape_weight}))
    table = pd.concat(planted, ignore_index=True)
    table.insert(0, "neuron_id", [f"sim{i}" for i in range(len(table))])
    ds = neural_responses(
        np.concatenate(counts).astype(np.float64), area=table["area"].to_numpy(),
        stimulus_id=stimulus_ids(stimuli), area_order=[a.name for a in areas],
        animal=["sim"] * len(table), session=["sim"] * len(table),
        neuron_id=table["neuron_id"].to_numpy(), stimuli=stimuli,
        rf_map=np.concatenate(rf_maps), rf_azimuth_deg=GRID_AZIMUTH_DEG,
        rf_elevation_deg=GRID_ELEVATION_DEG, synthetic=1, source="prunedistill simulator",
        planted_areas=str([asdict(a) for a in areas]), seed=seed, n_trials=n_trials)
    return ds, table


def simulate_latent(n_stimuli: int = 1000, n_latent: int = 3, n_neurons: int = 200, *,
                    n_trials: int = 50, peak_rate: float = 40.0, tuning_width: float = 0.35,
                    seed: int = 0) -> xr.Dataset:
    """A population whose rates are smooth functions of ``n_latent`` hidden variables:
    stimulus s has a latent point z_s uniform in [0, 1]^k, neuron n a preferred point c_n,
    and ``rate = peak * exp(-|z_s - c_n|^2 / (2 width^2))``; Poisson trials. Its
    trial-averaged representation is a k-dimensional manifold (ID ~ k at the scale of the
    tuning)."""
    rng = np.random.default_rng(seed)
    latent = rng.random((n_stimuli, n_latent))
    preferred = rng.random((n_neurons, n_latent)) * 1.4 - 0.2
    squared = ((preferred[:, None, :] - latent[None, :, :]) ** 2).sum(axis=2)
    rate = peak_rate * np.exp(-squared / (2 * tuning_width ** 2))
    counts = rng.poisson(rate[:, :, None], size=rate.shape + (n_trials,)).astype(np.float64)
    ds = neural_responses(counts, area=["latent"] * n_neurons,
                          stimulus_id=[f"s{i}" for i in range(n_stimuli)],
                          area_order=["latent"], synthetic=1, n_latent=n_latent, seed=seed,
                          source="prunedistill simulator (latent)")
    return ds.assign_coords(latent=(("stimulus", "latent_dim"), latent))
