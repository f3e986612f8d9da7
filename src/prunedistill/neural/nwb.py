"""NWB import (needs the ``nwb`` extra: pip install 'prunedistill[nwb]').

From an NWB file's units table (spike times and an area column) and a stimulus presentation
table (the trials table, or any TimeIntervals table with a stimulus id column), spike counts
per (neuron, stimulus, repetition) in a window aligned to each neuron's response latency:

* latency: the time after onset at which the neuron's PSTH (pooled over all presentations,
  ``bin_ms`` bins, baseline = mean rate in the ``baseline_ms`` before onset subtracted) first
  reaches 20 % of its peak;
* count: spikes in ``[onset + latency, onset + latency + window_ms)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .schema import NeuralDataError, neural_responses


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


def response_latency(spike_times: np.ndarray, onsets: np.ndarray, *, bin_ms: float = 10.0,
                     max_ms: float = 300.0, baseline_ms: float = 100.0,
                     fraction: float = 0.2) -> float:
    """Latency (s) of one neuron: first PSTH bin (its start) where the baseline-subtracted
    rate reaches ``fraction`` of its peak; 0 when the neuron does not respond."""
    edges = np.arange(0.0, max_ms + bin_ms / 2, bin_ms) / 1000.0
    relative = spikes_around(spike_times, onsets, baseline_ms / 1000.0, edges[-1])
    psth = np.histogram(relative, bins=edges)[0] / (len(onsets) * bin_ms / 1000.0)
    in_baseline = (relative >= -baseline_ms / 1000.0) & (relative < 0)
    baseline = in_baseline.sum() / (len(onsets) * baseline_ms / 1000.0)
    evoked = psth - baseline
    if evoked.max() <= 0:
        return 0.0
    return float(edges[np.argmax(evoked >= fraction * evoked.max())])


def _presentations(nwb, intervals: str, stimulus_column: str):
    if intervals == "trials":
        table = nwb.trials
    else:
        table = nwb.intervals.get(intervals) if nwb.intervals else None
    if table is None:
        available = ["trials"] if nwb.trials is not None else []
        available += list(nwb.intervals) if nwb.intervals else []
        raise NeuralDataError(f"no presentation table {intervals!r} in the file; available: "
                              f"{available or 'none'}. Pass intervals=NAME.")
    if stimulus_column not in table.colnames:
        raise NeuralDataError(f"the presentation table {intervals!r} has no column "
                              f"{stimulus_column!r}; its columns: {list(table.colnames)}.")
    onsets = np.asarray(table["start_time"][:], dtype=np.float64)
    stimulus = np.asarray(table[stimulus_column][:]).astype(str)
    return onsets, stimulus


def read_nwb(path, *, stimuli: xr.Dataset | None = None, intervals: str = "trials",
             stimulus_column: str = "stimulus_id", area_column: str = "area",
             area_order=None, window_ms: float = 150.0, bin_ms: float = 10.0) -> xr.Dataset:
    """``NeuralResponses`` from an NWB file (see the module docstring)."""
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise ImportError("reading NWB needs pynwb: pip install 'prunedistill[nwb]'.") from None
    path = Path(path)
    try:
        io = NWBHDF5IO(str(path), "r")
        nwb = io.read()
    except Exception as error:  # h5py and pynwb raise many types for a bad file
        raise NeuralDataError(f"{path} is not a readable NWB file: {error}") from None
    try:
        units = nwb.units
        if units is None or len(units) == 0:
            raise NeuralDataError(f"{path} has no units table (spike-sorted units).")
        columns = list(units.colnames)
        if area_column not in columns:
            fallback = "location" if "location" in columns else None
            if fallback is None:
                raise NeuralDataError(f"the units table has no area column {area_column!r}; "
                                      f"its columns: {columns}. Pass area_column=NAME.")
            area_column = fallback
        onsets, stimulus = _presentations(nwb, intervals, stimulus_column)
        order = np.argsort(onsets, kind="stable")
        onsets, stimulus = onsets[order], stimulus[order]
        ids = list(dict.fromkeys(stimulus))
        index = {s: i for i, s in enumerate(ids)}
        stimulus_index = np.array([index[s] for s in stimulus])
        repetition = np.zeros(len(stimulus), dtype=np.int64)
        seen: dict[int, int] = {}
        for i, s in enumerate(stimulus_index):
            repetition[i] = seen.get(s, 0)
            seen[s] = repetition[i] + 1
        n_units = len(units)
        counts = np.full((n_units, len(ids), repetition.max() + 1), np.nan)
        latencies = np.zeros(n_units)
        window = window_ms / 1000.0
        for u in range(n_units):
            spikes = np.sort(np.asarray(units["spike_times"][u], dtype=np.float64))
            latencies[u] = response_latency(spikes, onsets, bin_ms=bin_ms,
                                            max_ms=max(300.0, window_ms))
            start = onsets + latencies[u]
            n = np.searchsorted(spikes, start + window) - np.searchsorted(spikes, start)
            counts[u, stimulus_index, repetition] = n
        area = np.asarray(units[area_column][:]).astype(str)
        unit_ids = np.asarray(units.id[:]).astype(str)
        animal = nwb.subject.subject_id if nwb.subject is not None and \
            nwb.subject.subject_id else "unknown"
        session = nwb.session_id or nwb.identifier
    finally:
        io.close()
    ds = neural_responses(counts, area=area, stimulus_id=ids, area_order=area_order,
                          neuron_id=unit_ids, animal=[animal] * n_units,
                          session=[session] * n_units, stimuli=stimuli, source=str(path),
                          window_ms=window_ms)
    return ds.assign_coords(latency_ms=("neuron", latencies * 1000.0))
