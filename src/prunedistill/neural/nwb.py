"""NWB import (pynwb: pip install 'prunedistill[nwb]').

Spike counts per (neuron, stimulus, repetition) from an NWB file as labs write them:

* **units**: the units table's spike times, read one unit at a time;
* **areas**: an explicit column (``area_column``), else the units table's ``area``,
  ``location`` or ``brain_area``, else ``electrodes.location`` through each unit's electrode
  references (the most common location among a unit's electrodes; ties go to the first
  listed). Units without an area are an error naming them, unless ``drop_unassigned``;
* **presentations**: the trials table or any named TimeIntervals table (``intervals``), with
  the stimulus in ``stimulus_column`` (text or numbers; bytes are decoded);
* **latency** per neuron (:func:`response_latency`), unless ``latency`` is a fixed number of
  milliseconds; counts are the spikes in ``[onset + latency, onset + latency + window_ms)``.

The stimulus table of the recording (each stimulus's id; ``object`` = the id) travels with
the data, so recordings of any stimuli can be analysed without a rendered set.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.stats import poisson

from .schema import NeuralDataError, neural_responses, presentation_numbers

AREA_COLUMNS = ("area", "location", "brain_area")
LATENCY_SEARCH_MS = (0.0, 600.0)
LATENCY_STEP_MS = 10.0
BASELINE_MS = 300.0
LATENCY_ALPHA = 0.01
FALLBACK_LATENCY_MS = 100.0  # when no neuron of the file responds significantly


@dataclass(frozen=True)
class NWBOptions:
    """How to read an NWB file; the same names as the CLI flags (``--intervals`` ...) and
    the keys of a study's ``neural.datasets[]`` entries. ``latency``: "estimated" or a
    fixed latency in ms for every neuron."""

    intervals: str = "trials"
    stimulus_column: str = "stimulus_id"
    object_column: str | None = None
    area_column: str | None = None
    window_ms: float = 150.0
    latency: str | float = "estimated"
    drop_unassigned: bool = False


@dataclass(frozen=True)
class Latency:
    """One neuron's response latency (s), whether it was estimated from a significant
    response (else the fallback applies) and the test's Bonferroni-adjusted p-value."""

    seconds: float
    significant: bool
    p_value: float


def spikes_around(spike_times: np.ndarray, onsets: np.ndarray, before_s: float,
                  after_s: float) -> np.ndarray:
    """Spike times relative to each onset, for the spikes within ``[onset - before_s, onset +
    after_s]``, all presentations concatenated. Memory grows with the spikes in the windows,
    not with presentations x spikes."""
    spikes = np.sort(np.asarray(spike_times, dtype=np.float64))
    onsets = np.asarray(onsets, dtype=np.float64)
    first = np.searchsorted(spikes, onsets - before_s, side="left")
    counts = np.searchsorted(spikes, onsets + after_s, side="right") - first
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    index = np.repeat(first, counts) + (np.arange(counts.sum()) - starts)
    return spikes[index] - np.repeat(onsets, counts)


def response_latency(spike_times: np.ndarray, onsets: np.ndarray, *,
                     search_ms: tuple[float, float] = LATENCY_SEARCH_MS,
                     step_ms: float = LATENCY_STEP_MS, baseline_ms: float = BASELINE_MS,
                     window_ms: float = 150.0, alpha: float = LATENCY_ALPHA) -> Latency:
    """Response latency of one neuron from all its presentations.

    The onset is the change point of a two-rate Poisson model of the pooled spike times on
    ``[-baseline_ms, search end)``: the rate is one value before the onset and another after
    it, and the onset (on a ``step_ms`` grid within ``search_ms``) maximises the likelihood
    among onsets after which the rate rises. It is accepted when the spikes in ``[onset,
    onset + window_ms)`` exceed what the pre-onset baseline rate predicts (one-sided Poisson
    test, Bonferroni over the grid, ``alpha``); the baseline rate has one spike added so that
    a silent baseline is not evidence by itself. The search ends, and the baseline starts,
    within the shortest gap between onsets (half of it for the baseline), so that no window
    reaches into a neighbouring presentation.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    n = len(onsets)
    start_s, end_s = search_ms[0] / 1000.0, search_ms[1] / 1000.0
    before_s = baseline_ms / 1000.0
    gaps = np.diff(np.sort(onsets))
    if len(gaps) and gaps.min() > 0:  # never reach into a neighbouring presentation
        end_s = min(end_s, float(gaps.min()))
        before_s = min(before_s, float(gaps.min()) / 2)
    relative = np.sort(spikes_around(spike_times, onsets, before_s, end_s))
    relative = relative[relative < end_s]
    grid = np.arange(start_s, end_s - 1e-9, step_ms / 1000.0)
    n_before = np.searchsorted(relative, grid, side="left").astype(np.float64)
    n_after = len(relative) - n_before
    exposure_before = n * (grid + before_s)
    exposure_after = n * (end_s - grid)
    rate_before, rate_after = n_before / exposure_before, n_after / exposure_after
    with np.errstate(divide="ignore", invalid="ignore"):
        log_likelihood = (np.where(n_before > 0, n_before * np.log(rate_before), 0.0)
                          + np.where(n_after > 0, n_after * np.log(rate_after), 0.0))
    log_likelihood[~(rate_after > rate_before)] = -np.inf
    baseline_count = int(np.searchsorted(relative, 0.0, side="left"))
    baseline_rate = (baseline_count + 1) / (n * before_s)
    if not np.isfinite(log_likelihood).any():
        return Latency(start_s, False, 1.0)
    onset = float(grid[int(np.argmax(log_likelihood))])
    stop = min(onset + window_ms / 1000.0, end_s)
    observed = int(np.searchsorted(relative, stop) - np.searchsorted(relative, onset))
    p = float(poisson.sf(observed - 1, baseline_rate * n * (stop - onset)))
    p_adjusted = min(1.0, p * len(grid))
    return Latency(onset, p_adjusted < alpha, p_adjusted)


def _text(values) -> np.ndarray:
    """Text values of a table column, bytes decoded (NWB files store both)."""
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values],
                    dtype=str)


def interval_tables(nwb) -> dict[str, list[str]]:
    """Every presentation table of the file (the trials table and the named TimeIntervals
    tables) with its columns."""
    tables = {}
    if nwb.trials is not None:
        tables["trials"] = list(nwb.trials.colnames)
    for name, table in (nwb.intervals or {}).items():
        if name != "trials":
            tables[name] = list(table.colnames)
    return tables


def _describe_tables(nwb) -> str:
    tables = interval_tables(nwb)
    if not tables:
        return "the file has no presentation (interval) tables"
    return "its presentation tables: " + "; ".join(
        f"{name} (columns {', '.join(columns)})" for name, columns in tables.items())


def _presentations(nwb, intervals: str, stimulus_column: str, object_column: str | None):
    if intervals == "trials":
        table = nwb.trials
    else:
        table = nwb.intervals.get(intervals) if nwb.intervals else None
    if table is None:
        raise NeuralDataError(f"no presentation table {intervals!r} in the file; "
                              f"{_describe_tables(nwb)}. Name one with --intervals (intervals "
                              "in a study) and its stimulus column with --stimulus-column.")
    for column, flag in ((stimulus_column, "--stimulus-column"),
                         (object_column, "--object-column")):
        if column is not None and column not in table.colnames:
            raise NeuralDataError(f"the presentation table {intervals!r} has no column "
                                  f"{column!r}; its columns: {list(table.colnames)}. Name "
                                  f"one with {flag}.")
    onsets = np.asarray(table["start_time"][:], dtype=np.float64)
    if not np.isfinite(onsets).all():
        bad = np.flatnonzero(~np.isfinite(onsets))[:5].tolist()
        raise NeuralDataError(f"the presentation table {intervals!r} has onsets that are not "
                              f"numbers (rows {bad}); fix or remove those presentations.")
    backwards = np.flatnonzero(np.diff(onsets) < 0)
    if len(backwards):
        raise NeuralDataError(f"the presentation table {intervals!r} is not sorted by "
                              f"start_time (row {int(backwards[0]) + 1} starts before row "
                              f"{int(backwards[0])}); NWB interval tables are in time order.")
    objects = _text(table[object_column][:]) if object_column is not None else None
    return onsets, _text(table[stimulus_column][:]), objects


def _unit_areas(nwb, units, area_column: str | None) -> np.ndarray:
    """Each unit's area (``""`` where none is known), from where the file keeps it."""
    columns = list(units.colnames)
    if area_column is not None:
        if area_column not in columns:
            raise NeuralDataError(f"the units table has no area column {area_column!r}; its "
                                  f"columns: {columns}.")
        return _text(units[area_column][:])
    for name in AREA_COLUMNS:
        if name in columns:
            return _text(units[name][:])
    if "electrodes" not in columns:
        raise NeuralDataError(
            f"no area for the units: the units table has none of the columns "
            f"{list(AREA_COLUMNS)} and no electrode references (its columns: {columns}). "
            "Name the column with --area-column.")
    electrodes = nwb.electrodes
    if electrodes is None or "location" not in electrodes.colnames:
        raise NeuralDataError("the units refer to electrodes, but the electrodes table has "
                              "no `location` column; name an area column with "
                              "--area-column.")
    locations = _text(electrodes["location"][:])
    row_of = {int(i): r for r, i in enumerate(electrodes.id[:])}
    areas = []
    for u in range(len(units)):
        referenced = units["electrodes"][u]
        ids = referenced.index.to_numpy() if hasattr(referenced, "index") else \
            np.atleast_1d(referenced)
        found = [locations[row_of[int(i)]] for i in ids if int(i) in row_of]
        found = [f for f in found if f]
        areas.append(Counter(found).most_common(1)[0][0] if found else "")
    return np.array(areas, dtype=str)


def _objects_of(stimulus: np.ndarray, objects, column: str | None) -> dict | None:
    """Each stimulus's object (or category) from ``column``; one per stimulus."""
    if objects is None:
        return None
    found: dict[str, str] = {}
    for s, o in zip(stimulus, objects):
        if found.setdefault(s, o) != o:
            raise NeuralDataError(f"stimulus {s!r} has two values of {column!r} ("
                                  f"{found[s]!r} and {o!r}); each stimulus needs one object "
                                  "or category.")
    return found


def _latencies(units, onsets: np.ndarray, options: NWBOptions) -> list[Latency]:
    if options.latency != "estimated":
        fixed = float(options.latency) / 1000.0
        return [Latency(fixed, False, np.nan)] * len(units)
    found = [response_latency(units["spike_times"][u], onsets, window_ms=options.window_ms)
             for u in range(len(units))]
    accepted = [f.seconds for f in found if f.significant]
    fallback = float(np.median(accepted)) if accepted else FALLBACK_LATENCY_MS / 1000.0
    return [f if f.significant else Latency(fallback, False, f.p_value) for f in found]


def _reason(error: Exception) -> str:
    """The sentence of a pynwb/h5py error that names the problem (pynwb prepends a dump of
    the object it failed to build)."""
    text = str(error)
    for marker in ("Could not construct", "Unable to open", "unable to open"):
        if marker in text:
            text = text[text.index(marker):]
            break
    text = text.strip(" ()\"'")
    return text if len(text) <= 300 else text[:297] + "..."


def _open(path: Path):
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise ImportError("reading NWB needs pynwb: pip install 'prunedistill[nwb]'.") from None
    try:
        io = NWBHDF5IO(str(path), "r")
        return io, io.read()
    except Exception as error:  # h5py and pynwb raise many types for a bad file
        raise NeuralDataError(f"{path} is not a readable NWB file: {_reason(error)}") \
            from None


def describe_nwb(path) -> dict:
    """What an NWB file holds for this reader: units, where their areas are, and every
    presentation table with its columns."""
    io, nwb = _open(Path(path))
    try:
        units = nwb.units
        return {"units": 0 if units is None else len(units),
                "unit_columns": [] if units is None else list(units.colnames),
                "tables": interval_tables(nwb)}
    finally:
        io.close()


def read_nwb(path, *, stimuli: xr.Dataset | None = None, area_order=None,
             options: NWBOptions = NWBOptions()) -> xr.Dataset:
    """``NeuralResponses`` from an NWB file (see the module docstring), with per-neuron
    coords ``latency_ms``, ``latency_significant`` and ``latency_p``."""
    path = Path(path)
    io, nwb = _open(path)
    try:
        units = nwb.units
        if units is None or len(units) == 0:
            raise NeuralDataError(f"{path} has no units table (spike-sorted units).")
        if "spike_times" not in units.colnames:
            raise NeuralDataError(f"{path}: the units table has no spike_times; its columns: "
                                  f"{list(units.colnames)}.")
        area = _unit_areas(nwb, units, options.area_column)
        onsets, stimulus, objects = _presentations(nwb, options.intervals,
                                                   options.stimulus_column,
                                                   options.object_column)
        ids = list(dict.fromkeys(stimulus))
        object_of = _objects_of(stimulus, objects, options.object_column)
        index = {s: i for i, s in enumerate(ids)}
        stimulus_index = np.array([index[s] for s in stimulus])
        repetition = presentation_numbers(stimulus_index)  # data order within each stimulus
        latencies = _latencies(units, onsets, options)
        window = options.window_ms / 1000.0
        counts = np.full((len(units), len(ids), repetition.max() + 1), np.nan)
        for u, latency in enumerate(latencies):
            spikes = np.sort(np.asarray(units["spike_times"][u], dtype=np.float64))
            start = onsets + latency.seconds
            n = np.searchsorted(spikes, start + window) - np.searchsorted(spikes, start)
            counts[u, stimulus_index, repetition] = n
        unit_ids = _text(units.id[:])
        animal = nwb.subject.subject_id if nwb.subject is not None and \
            nwb.subject.subject_id else "unknown"
        session = nwb.session_id or nwb.identifier
    finally:
        io.close()
    keep = area != ""
    if not keep.all():
        if not options.drop_unassigned:
            raise NeuralDataError(f"{int((~keep).sum())} units have no area (ids "
                                  f"{unit_ids[~keep][:10].tolist()}); name the area column "
                                  "with --area-column, or drop them with --drop-unassigned.")
        counts, area, unit_ids = counts[keep], area[keep], unit_ids[keep]
        latencies = [latency for latency, k in zip(latencies, keep) if k]
    n_units = len(area)
    ds = neural_responses(counts, area=area, stimulus_id=ids, area_order=area_order,
                          neuron_id=unit_ids, animal=[animal] * n_units,
                          session=[session] * n_units, stimuli=stimuli, source=str(path),
                          window_ms=options.window_ms)
    if object_of is not None and stimuli is None:
        ds = ds.assign_coords(object=("stimulus", np.array([object_of[s] for s in ids],
                                                           dtype=str)))
    return ds.assign_coords(
        latency_ms=("neuron", np.array([latency.seconds * 1000.0 for latency in latencies])),
        latency_significant=("neuron", np.array([latency.significant
                                                 for latency in latencies])),
        latency_p=("neuron", np.array([latency.p_value for latency in latencies])))
