"""Single-unit reformatting analysis of one layer (or one recorded area).

Per unit (docs/science.md, section 4): I(R;S) over the unit's 23 views x objects; I(R;L) with L its
RF luminance and the split I(R;S) = I(R;L) + I(R;S'|L) with f_high; the same split with RF
contrast C; information about position, size, in-plane and in-depth rotation and RF
orientation energy; view-invariant object information I(R;O) at a luminosity-ratio threshold
and over a sweep. :func:`summarise_units` turns the per-unit table into per-layer medians with
bootstrap standard errors, fractions of significant units and degenerate counts.

Deterministic responses (a CNN unit: one response per stimulus) have I(R;S) equal to the
response entropy, which no label shuffle can reduce, so I(R;S) is the plug-in value and
f_high = 1 - I(R;L) / I(R;S). With the Poisson noise model (``information.noise``), trials
are drawn from the activation and every quantity is bias-corrected as for recorded neurons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .._validation import as_finite_matrix
from ..distances import resolve_device
from ..information import equipopulated_bins, invariant_object_information, mutual_information
from ..stats import bootstrap_median_se
from ..stimuli.properties import rf_statistics
from ..stimuli.sets import default_position_nearer, views_23_index
from .options import InformationOptions, NoiseOptions
from .receptive_fields import rf_centres

MID_LEVEL = ("position_deg", "size_deg", "inplane_deg", "indepth_deg")
UNIT_TERMS = ("I_S", "I_L", "I_S_given_L", "f_high_L", "I_C", "I_S_given_C", "f_high_C",
              *[f"I_{v}" for v in MID_LEVEL], "I_orientation", "I_invariant",
              "p_S", "p_L", "p_C", *[f"p_{v}" for v in MID_LEVEL], "p_orientation")


ORIENTATION_WAVELENGTH_DEG = 10.0  # the Gabor bank of the RF orientation energy


def poisson_trials(responses: np.ndarray, noise: NoiseOptions, seed: int) -> np.ndarray:
    """Spike-count trials from activations ``(units, stimuli)`` -> counts
    ``(units, stimuli * n_trials)``, stimulus-major: each unit's activation is mapped
    linearly onto ``0..peak_rate`` (its minimum over stimuli to 0, its maximum to
    ``peak_rate`` spikes) and each trial is a Poisson draw with that mean."""
    low = responses.min(axis=1, keepdims=True)
    span = responses.max(axis=1, keepdims=True) - low
    rate = np.divide(responses - low, span, out=np.zeros_like(responses), where=span > 0)
    rng = np.random.default_rng(seed)
    rate = np.repeat(rate * noise.peak_rate, noise.n_trials, axis=1)
    return rng.poisson(rate).astype(np.float64)


@dataclass
class RFVariables:
    """Image variables in each unit's RF, ``(units, stimuli)``, and RF centres ``(units,)``."""

    luminance: np.ndarray
    contrast: np.ndarray
    orientation_energy: np.ndarray
    azimuth_deg: np.ndarray
    extra: dict = field(default_factory=dict)


def rf_variables(stimuli: xr.Dataset, rf_maps, rf_azimuth_deg,
                 wavelength_deg: float = ORIENTATION_WAVELENGTH_DEG, *, energy_maps=None,
                 device="cpu") -> RFVariables:
    """RF luminance, contrast and orientation energy of every stimulus for every unit.
    ``energy_maps``: the stimuli's precomputed ``orientation_energy`` (shared by layers)."""
    stats = rf_statistics(stimuli["images"].values, rf_maps,
                          ("luminance", "contrast", "orientation_energy"),
                          deg_per_pixel=stimuli.attrs["deg_per_pixel"],
                          wavelength_deg=wavelength_deg, energy=energy_maps, device=device)
    return RFVariables(luminance=stats["luminance"], contrast=stats["contrast"],
                       orientation_energy=stats["orientation_energy"],
                       azimuth_deg=np.asarray(rf_azimuth_deg, dtype=np.float64))


def unit_view_groups(stimuli: xr.Dataset, rf_azimuth_deg) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(units, stimulus indices)]``: units sharing their 23-view subset (the 8 positions
    and the 15 views at the default position nearer the RF). Sets without a ``position``
    transformation use all stimuli for every unit."""
    azimuth = np.asarray(rf_azimuth_deg, dtype=np.float64)
    units = np.arange(len(azimuth))
    if "transformation" not in stimuli.coords or not (stimuli.transformation == "position").any():
        return [(units, np.arange(stimuli.sizes["stimulus"]))]
    nearer = np.array([default_position_nearer(a) if np.isfinite(a) else 15.0 for a in azimuth])
    groups = []
    for default in np.unique(nearer):
        groups.append((units[nearer == default], views_23_index(stimuli, default)))
    return groups


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1].reshape(values.shape)


def _binned_continuous(values: np.ndarray, n_bins: int) -> np.ndarray:
    values = np.atleast_2d(values).astype(np.float64)
    if n_bins > values.shape[1]:
        raise ValueError(f"information.luminance_bins is {n_bins} but each unit sees only "
                         f"{values.shape[1]} stimuli; set it to at most {values.shape[1]}.")
    codes, _ = equipopulated_bins(values, n_bins)
    return codes


def _information(binned: np.ndarray, labels: np.ndarray, kwargs: dict):
    """``(information, p_value)`` per unit; a variable that never changes (e.g. the RF
    luminance of units that only ever see background) carries 0 bits, p NaN."""
    if np.ptp(labels) == 0:
        return np.zeros(len(binned)), np.full(len(binned), np.nan)
    result = mutual_information(binned, labels, **kwargs)
    p = result.p_value if result.p_value is not None else np.full(len(binned), np.nan)
    return result.information, p


def analyse_units(responses, stimuli: xr.Dataset, variables: RFVariables,
                  options: InformationOptions = InformationOptions(), *, seed: int = 0
                  ) -> xr.Dataset:
    """Per-unit information table for ``responses (units, stimuli)``, or recorded spike
    counts ``(units, stimuli, trials)`` (then I(R;S) is bias-corrected like every term).

    Returns a Dataset over ``unit`` (and ``threshold`` for the invariance sweep) with, in
    bits: ``I_S``, ``I_L``, ``I_S_given_L``, ``f_high_L``, ``I_C``, ``I_S_given_C``,
    ``f_high_C``, ``I_position_deg``, ``I_size_deg``, ``I_inplane_deg``, ``I_indepth_deg``,
    ``I_orientation``, ``I_invariant`` (at the threshold; NaN when no object pair reaches
    the luminosity ratio, counted in ``n_invariant_pairs``), ``I_invariant_sweep``; the
    permutation p-values ``p_*`` of the corrected terms; ``n_bins_used``, ``degenerate`` and
    ``rf_azimuth_deg``. ``seed`` drives the label shuffles and the noise model's trials.
    """
    noisy = options.noise.kind == "poisson"
    trials = np.ndim(responses) == 3
    if trials:  # recorded trials: (units, stimuli, trials), every entry finite
        r = np.asarray(responses, dtype=np.float64)
        if not np.isfinite(r).all():
            raise ValueError("responses (units, stimuli, trials) must be finite; give each "
                             "unit the same number of complete trials per stimulus.")
        if noisy:
            raise ValueError("recorded trials and a noise model exclude each other; set "
                             "information.noise.kind to 'none' for recorded data.")
    else:
        r = as_finite_matrix(responses, "responses", min_cols=2)
    n_units = r.shape[0]
    if variables.luminance.shape != r.shape[:2]:
        raise ValueError(f"RF variables are {variables.luminance.shape} but responses are "
                         f"{r.shape[:2]} (units, stimuli); compute them for the same units "
                         "and stimuli.")
    table = {name: np.full(n_units, np.nan) for name in UNIT_TERMS}
    thresholds = np.unique(np.r_[options.invariance_sweep, options.invariance_threshold])
    sweep = np.full((n_units, len(thresholds)), np.nan)
    n_pairs = np.zeros((n_units, len(thresholds)), dtype=np.int64)
    n_bins_used = np.zeros(n_units, dtype=np.int64)
    kwargs = dict(correction=options.bias_correction, n_shuffles=options.shuffles, seed=seed,
                  qe_repartitions=options.qe_repartitions, null_model=options.null_model,
                  device=options.device)
    for units, chosen in unit_view_groups(stimuli, variables.azimuth_deg):
        if len(units) == 0:
            continue
        group = r[np.ix_(units, chosen)]
        per_unit = {"L": variables.luminance, "C": variables.contrast,
                    "orientation": variables.orientation_energy}
        per_unit = {k: v[np.ix_(units, chosen)] for k, v in per_unit.items()}
        shared = {"S": np.arange(len(chosen)), "O": stimuli["object"].values[chosen]}
        for name in MID_LEVEL:
            if name in stimuli.coords:
                shared[name] = stimuli[name].values[chosen]
        if noisy or trials:
            if trials:  # stimulus-major, like the noise model's trials
                repeat = group.shape[2]
                group = group.reshape(len(units), -1)
            else:
                group = poisson_trials(group, options.noise, seed)
                repeat = options.noise.n_trials
            per_unit = {k: np.repeat(v, repeat, axis=1) for k, v in per_unit.items()}
            shared = {k: np.repeat(v, repeat) for k, v in shared.items()}
        binned, used = equipopulated_bins(group, options.n_bins)
        n_bins_used[units] = used
        if not noisy and not trials:
            # One sample per stimulus: I(R;S) is the response entropy (see module docstring).
            i_s = mutual_information(binned, shared["S"], correction="none", n_shuffles=0)
        else:
            i_s = mutual_information(binned, shared["S"], **kwargs)
            table["p_S"][units] = i_s.p_value if i_s.p_value is not None else np.nan
        table["I_S"][units] = i_s.information
        for key in ("L", "C"):
            low = _binned_continuous(per_unit[key], options.luminance_bins)
            table[f"I_{key}"][units], table[f"p_{key}"][units] = _information(binned, low, kwargs)
            residual = i_s.information - table[f"I_{key}"][units]
            table[f"I_S_given_{key}"][units] = residual
            with np.errstate(divide="ignore", invalid="ignore"):
                table[f"f_high_{key}"][units] = np.where(i_s.information > 0,
                                                         residual / i_s.information, np.nan)
        orientation = _binned_continuous(per_unit["orientation"], options.luminance_bins)
        table["I_orientation"][units], table["p_orientation"][units] = _information(
            binned, orientation, kwargs)
        for name in MID_LEVEL:
            if name in shared:
                table[f"I_{name}"][units], table[f"p_{name}"][units] = _information(
                    binned, _codes(shared[name]), kwargs)
        if len(np.unique(shared["O"])) > 1:  # one object: no pair, invariance undefined
            invariant = invariant_object_information(
                group, shared["O"], per_unit["L"], thresholds=thresholds,
                n_bins=options.n_bins, correction=options.bias_correction,
                n_shuffles=options.shuffles, seed=seed,
                qe_repartitions=options.qe_repartitions, null_model=options.null_model,
                device=options.device)
            sweep[units] = invariant["information"]
            n_pairs[units] = invariant["n_pairs"]
    degenerate = n_bins_used == 1  # their information terms are 0 by construction
    at_threshold = int(np.flatnonzero(np.isclose(thresholds, options.invariance_threshold))[0])
    table["I_invariant"] = sweep[:, at_threshold]
    data = {name: ("unit", values) for name, values in table.items()}
    data["I_invariant_sweep"] = (("unit", "threshold"), sweep)
    data["n_invariant_pairs"] = ("unit", n_pairs[:, at_threshold])
    data["n_bins_used"] = ("unit", n_bins_used)
    # one response per stimulus: I(R;S) is the response entropy, and f_high a function of
    # I(R;L) and that entropy (docs/science.md, section 4)
    data["I_S_is_entropy"] = ("unit", np.full(n_units, not noisy and not trials))
    data["degenerate"] = ("unit", degenerate)
    data["rf_azimuth_deg"] = ("unit", variables.azimuth_deg)
    return xr.Dataset(data, coords={"threshold": thresholds},
                      attrs={"noise": "none" if not noisy else repr(options.noise),
                             "shuffles": options.shuffles,
                             "bias_correction": options.bias_correction,
                             "invariance_threshold": options.invariance_threshold})


def identity_information(counts, options: InformationOptions = InformationOptions(), *,
                         seed: int = 0, objects=None) -> xr.Dataset:
    """Stimulus information I(R;S) of recorded ``counts (units, stimuli, trials)`` (complete
    trials) when there are no images, and with ``objects (stimuli,)`` (each stimulus's
    object or category) the object information ``I_O`` pooled over each object's stimuli.
    The terms that need an image or an RF (luminance, contrast, mid-level, invariance) are
    NaN. Same variables as :func:`analyse_units`, plus ``I_O`` and ``p_O``."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 3 or not np.isfinite(counts).all():
        raise ValueError("counts must be (units, stimuli, trials) with every entry finite.")
    n_units, n_stimuli, n_trials = counts.shape
    binned, used = equipopulated_bins(counts.reshape(n_units, -1), options.n_bins)
    labels = np.repeat(np.arange(n_stimuli), n_trials)
    result = mutual_information(binned, labels, correction=options.bias_correction,
                                n_shuffles=options.shuffles, seed=seed,
                                qe_repartitions=options.qe_repartitions,
                                null_model=options.null_model)
    table = {name: np.full(n_units, np.nan) for name in (*UNIT_TERMS, "I_O", "p_O")}
    table["I_S"] = result.information
    if result.p_value is not None:
        table["p_S"] = result.p_value
    if objects is not None:
        codes = np.unique(np.asarray(objects), return_inverse=True)[1]
        if codes.max() > 0:
            by_object = mutual_information(binned, np.repeat(codes, n_trials),
                                           correction=options.bias_correction,
                                           n_shuffles=options.shuffles, seed=seed,
                                           qe_repartitions=options.qe_repartitions,
                                           null_model=options.null_model)
            table["I_O"] = by_object.information
            if by_object.p_value is not None:
                table["p_O"] = by_object.p_value
    thresholds = np.unique(np.r_[options.invariance_sweep, options.invariance_threshold])
    data = {name: ("unit", values) for name, values in table.items()}
    data["I_invariant_sweep"] = (("unit", "threshold"),
                                 np.full((n_units, len(thresholds)), np.nan))
    data["n_invariant_pairs"] = ("unit", np.zeros(n_units, dtype=np.int64))
    data["n_bins_used"] = ("unit", used)
    data["degenerate"] = ("unit", used == 1)
    data["rf_azimuth_deg"] = ("unit", np.full(n_units, np.nan))
    data["rf_valid"] = ("unit", np.zeros(n_units, dtype=bool))
    return xr.Dataset(data, coords={"threshold": thresholds},
                      attrs={"shuffles": options.shuffles,
                             "bias_correction": options.bias_correction})


def summarise_units(table: xr.Dataset, *, alpha: float = 0.05, n_boot: int = 1000,
                    seed: int = 0, include_degenerate: bool = False) -> dict:
    """Per-layer summary of :func:`analyse_units`: for each ``I_*`` / ``f_high_*`` metric its
    median, bootstrap SE of the median and the number of finite units; for metrics with a
    p-value, the fraction of units significant at ``alpha``; and the degenerate count.

    Degenerate units (one response value) are counted but left out of the medians unless
    ``include_degenerate``: in a layer whose units mostly see black background they would
    pull every median to 0 bits whatever the responsive units do."""
    degenerate = table["degenerate"].values.astype(bool)
    summary = {"n_units": int(table.sizes["unit"]), "n_degenerate": int(degenerate.sum())}
    if not include_degenerate:
        table = table.isel(unit=np.flatnonzero(~degenerate))
    for name in table.data_vars:
        if not (name.startswith("I_") or name.startswith("f_high")) or name.endswith("sweep"):
            continue
        values = table[name].values
        finite = np.isfinite(values)
        summary[f"{name}_median"] = float(np.median(values[finite])) if finite.any() else np.nan
        summary[f"{name}_se"] = bootstrap_median_se(values, n_boot, seed)
        summary[f"{name}_n"] = int(finite.sum())
        p_name = "p_" + name[2:] if name.startswith("I_") else None
        if p_name in table and np.isfinite(table[p_name].values).any():
            p = table[p_name].values
            summary[f"{name}_fraction_significant"] = float((p[np.isfinite(p)] < alpha).mean())
    return summary


def rf_maps_or_full_field(rf_maps) -> tuple[np.ndarray, np.ndarray]:
    """RF maps with all-zero maps (dead units: no gradient anywhere) replaced by a uniform
    full-field map, and a ``(units,)`` flag of the maps that were valid."""
    maps = np.asarray(rf_maps)
    valid = maps.reshape(len(maps), -1).max(axis=1) > 0
    if not valid.all():
        maps = maps.copy()
        maps[~valid] = 1.0
    return maps, valid


def analyse_layer(responses, stimuli: xr.Dataset, rf_maps,
                  options: InformationOptions = InformationOptions(), *, seed: int = 0,
                  energy_maps=None) -> xr.Dataset:
    """:func:`analyse_units` from raw RF maps ``(units, y, x)`` on the stimulus grid: RF
    centres, the RF variables, the per-unit 23-view subsets, and a ``rf_valid`` flag.
    ``energy_maps``: ``stimuli.properties.orientation_energy`` of the stimuli, computed once
    for all layers."""
    if options.device != "cpu":
        resolve_device(options.device)  # a named error when the GPU is missing
    maps, valid = rf_maps_or_full_field(rf_maps)
    azimuth, _ = rf_centres(maps, stimuli["x"].values, stimuli["y"].values)
    variables = rf_variables(stimuli, maps, azimuth, energy_maps=energy_maps,
                             device=options.device)
    table = analyse_units(responses, stimuli, variables, options, seed=seed)
    table["rf_valid"] = ("unit", valid)
    return table
