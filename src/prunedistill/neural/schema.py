"""Recorded responses as an xarray Dataset, and the validator that names every problem.

``NeuralResponses`` layout (docs/design.md):

* ``counts[neuron, stimulus, trial]`` float64 spike counts, NaN where a neuron has fewer
  trials of a stimulus than the longest;
* neuron coords ``neuron_id``, ``area``, ``animal``, ``session``;
* stimulus coords ``stimulus_id`` (``"OBJECT/vVIEW"`` for the rendered sets, see
  :func:`stimulus_ids`) and, when known, the stimulus set's own coords (object, view, ...);
* optional ``rf_map[neuron, grid_y, grid_x]`` with ``grid_y`` / ``grid_x`` the elevation and
  azimuth (deg) of the grid cells, as mapped with bars;
* attrs ``area_order`` (the hierarchy, e.g. V1 LM LI LL), ``window_ms``, ``source``,
  ``synthetic`` (true for simulated data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .._validation import PrunedistillError

RAT_AREAS = ("V1", "LM", "LI", "LL")
STIMULUS_COORDS = ("object", "object_index", "view", "transformation", "position_deg",
                   "elevation_deg", "size_deg", "inplane_deg", "indepth_deg", "luminance")


class NeuralDataError(PrunedistillError, ValueError):
    """Responses that break the schema; the message lists every violation."""


def stimulus_ids(stimuli: xr.Dataset) -> np.ndarray:
    """``"OBJECT/vVIEW"`` per stimulus: the key that ties recordings to a stimulus set."""
    return np.array([f"{o}/v{v}" for o, v in zip(stimuli["object"].values,
                                                  stimuli["view"].values)])


def neural_responses(counts, *, area: Sequence[str], stimulus_id: Sequence[str],
                     area_order: Sequence[str] | None = None, animal=None, session=None,
                     neuron_id=None, stimuli: xr.Dataset | None = None, rf_map=None,
                     rf_azimuth_deg=None, rf_elevation_deg=None, **attrs) -> xr.Dataset:
    """Assemble a ``NeuralResponses`` Dataset from arrays and validate it.

    ``counts (neurons, stimuli, trials)``; ``area``, ``animal``, ``session`` per neuron;
    ``stimulus_id`` per stimulus. With ``stimuli`` (a stimulus set containing those ids) the
    set's coords are attached to the stimulus dimension. ``area_order`` defaults to the
    areas in order of first appearance.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 3:
        raise NeuralDataError(f"counts must be (neurons, stimuli, trials); got shape "
                              f"{counts.shape}.")
    n_neurons = counts.shape[0]
    area = np.asarray(area).astype(str)
    order = list(area_order) if area_order is not None else list(dict.fromkeys(area))
    coords = {
        "neuron_id": ("neuron", np.asarray(neuron_id if neuron_id is not None
                                           else np.arange(n_neurons)).astype(str)),
        "area": ("neuron", area),
        "animal": ("neuron", np.asarray(animal if animal is not None
                                        else ["unknown"] * n_neurons).astype(str)),
        "session": ("neuron", np.asarray(session if session is not None
                                         else ["unknown"] * n_neurons).astype(str)),
        "stimulus_id": ("stimulus", np.asarray(stimulus_id).astype(str)),
    }
    data = {"counts": (("neuron", "stimulus", "trial"), counts)}
    if rf_map is not None:
        rf_map = np.asarray(rf_map, dtype=np.float64)
        data["rf_map"] = (("neuron", "grid_y", "grid_x"), rf_map)
        coords["grid_x"] = ("grid_x", np.asarray(rf_azimuth_deg, dtype=np.float64))
        coords["grid_y"] = ("grid_y", np.asarray(rf_elevation_deg, dtype=np.float64))
    ds = xr.Dataset(data, coords=coords, attrs={"area_order": order, **attrs})
    if stimuli is not None:
        ds = attach_stimulus_coords(ds, stimuli)
    validate_responses(ds, stimuli)
    return ds


def attach_stimulus_coords(ds: xr.Dataset, stimuli: xr.Dataset) -> xr.Dataset:
    """Copy the stimulus set's coords onto ``ds``'s stimulus dimension, matched by id."""
    lookup = {sid: i for i, sid in enumerate(stimulus_ids(stimuli))}
    missing = [s for s in ds["stimulus_id"].values if s not in lookup]
    if missing:
        shown = ", ".join(str(s) for s in missing[:5])
        raise NeuralDataError(f"{len(missing)} stimulus ids are not in the stimulus set "
                              f"(first: {shown}); its ids look like '{next(iter(lookup))}' "
                              "(OBJECT/vVIEW). Record against the same set, or give its "
                              "folder.")
    index = np.array([lookup[s] for s in ds["stimulus_id"].values])
    extra = {name: ("stimulus", stimuli[name].values[index]) for name in STIMULUS_COORDS
             if name in stimuli.coords}
    extra["stimulus_index"] = ("stimulus", index)
    return ds.assign_coords(extra)


def validate_responses(ds: xr.Dataset, stimuli: xr.Dataset | None = None,
                       area_order: Sequence[str] | None = None) -> None:
    """Raise :class:`NeuralDataError` listing every schema violation of ``ds``."""
    problems = []
    if "counts" not in ds:
        raise NeuralDataError("no `counts` variable; expected counts[neuron, stimulus, trial].")
    counts = ds["counts"]
    if counts.dims != ("neuron", "stimulus", "trial"):
        problems.append(f"counts has dims {counts.dims}; expected (neuron, stimulus, trial)")
    for name in ("area", "animal", "session", "neuron_id"):
        if name not in ds.coords or ds[name].dims != ("neuron",):
            problems.append(f"missing neuron coordinate `{name}`")
    if "stimulus_id" not in ds.coords:
        problems.append("missing stimulus coordinate `stimulus_id`")
    values = counts.values
    finite = np.isfinite(values)
    if (values[finite] < 0).any():
        bad = np.unique(np.nonzero((values < 0) & finite)[0])
        problems.append(f"negative counts in {len(bad)} neurons (first: "
                        f"{[str(v) for v in ds['neuron_id'].values[bad[:5]]]})")
    if np.isinf(values).any():
        problems.append("infinite counts; use NaN for missing trials")
    empty = ~finite.reshape(len(values), -1).any(axis=1) if values.size else np.array([])
    if empty.any():
        problems.append(f"{int(empty.sum())} neurons have no valid count at all (first: "
                        f"{[str(v) for v in ds['neuron_id'].values[empty][:5]]}); drop them")
    if values.size and finite.shape[-1] and not empty.all():
        no_trial = ~finite.any(axis=2) & ~empty[:, None]
        if no_trial.any():
            problems.append(f"{int(no_trial.any(axis=1).sum())} neurons lack any trial for "
                            "some stimulus; every neuron needs >= 1 trial per stimulus")
    order = list(area_order if area_order is not None else ds.attrs.get("area_order", []))
    if not order:
        problems.append("no area order: set attrs['area_order'] (e.g. V1, LM, LI, LL)")
    elif "area" in ds.coords:
        unknown = sorted(str(a) for a in set(ds["area"].values) - set(order))
        if unknown:
            problems.append(f"areas {unknown} are not in the area order {order}")
        if len(set(order)) != len(order):
            problems.append(f"the area order {order} repeats an area")
    if "stimulus_id" in ds.coords:
        ids = ds["stimulus_id"].values
        if len(set(ids)) != len(ids):
            problems.append("stimulus ids repeat; one stimulus per id")
        if stimuli is not None:
            known = set(stimulus_ids(stimuli))
            missing = [str(s) for s in ids if s not in known]
            if missing:
                problems.append(f"{len(missing)} stimulus ids are not in the stimulus set "
                                f"(first: {missing[:3]})")
    if "rf_map" in ds:
        rf = ds["rf_map"]
        if rf.dims != ("neuron", "grid_y", "grid_x"):
            problems.append(f"rf_map has dims {rf.dims}; expected (neuron, grid_y, grid_x)")
        elif "grid_x" not in ds.coords or "grid_y" not in ds.coords:
            problems.append("rf_map needs grid_x / grid_y coords (azimuth / elevation, deg)")
        if (rf.values[np.isfinite(rf.values)] < 0).any():
            problems.append("rf_map has negative values; give response maps >= 0")
    if problems:
        raise NeuralDataError("the neural responses break the schema:\n" + "\n".join(
            f"  - {p}" for p in problems))


def areas_in_order(ds: xr.Dataset) -> list[str]:
    """The areas present, in the dataset's hierarchy order."""
    present = set(ds["area"].values)
    return [a for a in ds.attrs["area_order"] if a in present]


def presentation_numbers(stimulus: np.ndarray, repetition=None) -> np.ndarray:
    """The trial slot of each presentation ``(presentations,)``: 0, 1, ... within each
    stimulus.

    Slots follow the ``repetition`` values ranked within each stimulus (so numbering from
    1, from -1 or with gaps costs nothing); when two presentations of a stimulus share a
    repetition number (concatenated sessions) or there is none, they follow the data's
    order. No presentation is lost or overwritten, and the trial axis is as long as the
    most presented stimulus."""
    stimulus = np.asarray(stimulus, dtype=np.int64)
    data_order = np.arange(len(stimulus))
    keys = data_order
    if repetition is not None:
        repetition = np.asarray(repetition)
        if repetition.dtype.kind not in "iuf":
            raise NeuralDataError("the `repetition` coordinate must be numeric; got "
                                  f"{repetition.dtype}.")
        pairs = np.unique(np.column_stack([stimulus, repetition]), axis=0)
        if len(pairs) == len(stimulus):  # no clash: the numbers order the trials
            keys = repetition
    order = np.lexsort((data_order, keys, stimulus))
    starts = np.r_[0, np.flatnonzero(np.diff(stimulus[order])) + 1]
    rank = data_order - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    slots = np.empty(len(order), dtype=np.int64)
    slots[order] = rank
    return slots
