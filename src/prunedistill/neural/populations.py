"""Point clouds from recorded neurons: equal-N neuron subsets, trial-averaged responses and
single-trial pseudo-population vectors (docs/science.md, section 3)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .schema import areas_in_order


def equal_n_subsets(ds: xr.Dataset, n_neurons: int | None = None, n_resamples: int = 20,
                    seed: int = 0) -> tuple[dict[str, list[np.ndarray]], int]:
    """Per area, ``n_resamples`` random sets of ``n_neurons`` neuron indices, so areas are
    compared at equal numbers of neurons. The default is 90 % of the smallest area, so that
    its subsets vary too."""
    areas = areas_in_order(ds)
    sizes = {a: int((ds["area"].values == a).sum()) for a in areas}
    n = max(2, int(0.9 * min(sizes.values()))) if n_neurons is None else n_neurons
    too_small = {a: s for a, s in sizes.items() if s < n}
    if too_small:
        raise ValueError(f"areas {too_small} have fewer than the {n} neurons asked for; "
                         f"lower n_neurons to at most {min(sizes.values())}.")
    rng = np.random.default_rng(seed)
    subsets = {}
    for area in areas:
        members = np.flatnonzero(ds["area"].values == area)
        subsets[area] = [np.sort(rng.choice(members, size=n, replace=False))
                         for _ in range(n_resamples)]
    return subsets, n


def trial_averaged(ds: xr.Dataset, neurons: np.ndarray) -> np.ndarray:
    """Mean count over valid trials: points ``(stimuli, neurons)``."""
    return np.nanmean(ds["counts"].values[neurons], axis=2).T


def pseudo_population(ds: xr.Dataset, neurons: np.ndarray, rng: np.random.Generator,
                      n_repeats: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Single-trial pseudo-population vectors: for each stimulus, repeat and neuron, the
    count on a trial drawn at random among that neuron's valid trials of that stimulus.

    Returns ``(points (stimuli * n_repeats, neurons), trials (neurons, stimuli, n_repeats))``
    with points stimulus-major (repeats of stimulus 0 first) and ``trials`` the trial
    indices used."""
    counts = ds["counts"].values[neurons]  # (neurons, stimuli, trials)
    valid = np.isfinite(counts)
    n_valid = valid.sum(axis=2)
    if (n_valid == 0).any():
        raise ValueError("a neuron has no valid trial for some stimulus.")
    # The k-th valid trial of each (neuron, stimulus), k uniform over the valid ones.
    order = np.argsort(~valid, axis=2, kind="stable")  # valid trial indices first
    k = (rng.random(n_valid.shape + (n_repeats,)) * n_valid[:, :, None]).astype(np.int64)
    trials = np.take_along_axis(order, k, axis=2)
    values = np.take_along_axis(counts, trials, axis=2)  # (neurons, stimuli, repeats)
    return values.reshape(len(neurons), -1).T, trials


def complete_trials(ds: xr.Dataset, neurons: np.ndarray) -> np.ndarray:
    """Counts ``(neurons, stimuli, T)`` with T the smallest number of valid trials any
    stimulus has among these neurons: each neuron's first T valid trials per stimulus."""
    counts = ds["counts"].values[neurons]
    valid = np.isfinite(counts)
    n_common = int(valid.sum(axis=2).min())
    if n_common < 1:
        raise ValueError("some neuron has no valid trial for some stimulus.")
    order = np.argsort(~valid, axis=2, kind="stable")[:, :, :n_common]
    return np.take_along_axis(counts, order, axis=2)
