"""The per-(network, layer) and per-(dataset, area) analyses, as picklable tasks that read
their inputs from the cache and write one cache entry each. They run in this process, in
local worker processes or on Dask workers (which must see the same file system); the results
are identical.

This module owns the files of analysis entries: every task writes its tidy tables as
``NAME.parquet`` (plus ``manifest.json``), and :func:`read_tables` reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import PrunedistillError
from ..analysis.options import DecodingOptions, DimensionOptions, InformationOptions, NeuralOptions
from ..analysis.tables import concat_sorted, identity
from .cache import Cache

LAYER_KINDS = ("dimension", "information", "decoding")
AREA_KINDS = ("neural_dimension", "neural_information", "neural_decoding")


@dataclass(frozen=True)
class Task:
    """One analysis of one layer of one network instance, or of one recorded area.

    ``inputs``: absolute paths by role (``store``, ``id_store``, ``stimuli``, ``energy``,
    ``rf``, ``path`` of a recording); ``options``: the typed options of the config sections
    it uses, by section name (``information``, ``dimension``, ``decoding``, ``neural``);
    ``cost``: a rough size for scheduling the big ones first.
    """

    kind: str
    network: str
    weights: str
    layer: str
    layer_index: int
    cache_root: str
    key: str
    inputs: dict[str, str] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    seed: int = 0
    cost: float = 1.0
    n_units: int = 0
    area_order: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()

    @property
    def stage(self) -> str:
        return f"analyse_{self.kind}"

    @property
    def path(self) -> Path:
        return Cache(self.cache_root).path(self.stage, self.key)

    @property
    def identity(self) -> dict:
        return identity(self.network, self.weights, self.layer, self.layer_index)


def run_task(task: Task) -> str:
    """Run ``task`` unless its entry exists; return the entry's path."""
    if not Path(task.cache_root).is_dir():
        import socket

        raise PrunedistillError(
            f"the cache folder {task.cache_root} is not visible on {socket.gethostname()}: "
            "Dask workers must see the output folder at the same path (a shared file "
            "system), or run the study with the local executor.")
    cache = Cache(task.cache_root)
    if not cache.has(task.stage, task.key):
        manifest = {"kind": task.kind, "network": task.network, "weights": task.weights,
                    "layer": task.layer, "options": task.options, "seed": task.seed,
                    "inputs": task.inputs}
        with cache.writing(task.stage, task.key, manifest) as folder:
            for name, table in RUNNERS[task.kind](task).items():
                table.to_parquet(folder / f"{name}.parquet", index=False)
    return str(cache.path(task.stage, task.key))


def read_tables(tasks: list[Task], sort_by: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the tasks' entries, concatenated in task order and stably sorted by
    ``sort_by`` (default: network, weights, layer index)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for task in tasks:
        for path in sorted(task.path.glob("*.parquet")):
            parts.setdefault(path.stem, []).append(pd.read_parquet(path))
    order = sort_by or ["network", "weights", "layer_index"]
    return {name: concat_sorted(frames, [c for c in order if c in frames[0]])
            for name, frames in sorted(parts.items())}


def run_dimension(task: Task) -> dict[str, pd.DataFrame]:
    from ..activations import ActivationStore
    from ..analysis.layers import layer_dimension

    store = ActivationStore(task.inputs.get("id_store") or task.inputs["store"])
    options: DimensionOptions = task.options["dimension"]
    return layer_dimension(store.distances(task.layer), options, task.identity, seed=task.seed)


def rf_maps_for(task: Task, stimuli) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """RF maps ``(units, y, x)`` on the stimulus grid and each unit's fit columns
    ``rf_fit_r2`` (NaN when not fitted) and ``rf_fit_inside``. Bar-mapped units whose
    Gaussian fit fails (R^2 <= 0.5, or a centre outside the mapped field) get a full-field
    map: their RF cannot be localised, so they are treated as seeing the whole image."""
    from ..analysis.receptive_fields import GaussianFit, localised_rf_maps

    method = task.options["information"].receptive_fields
    shape = (task.n_units, stimuli.sizes["y"], stimuli.sizes["x"])
    unfitted = {"rf_fit_r2": np.full(task.n_units, np.nan),
                "rf_fit_inside": np.zeros(task.n_units, dtype=bool)}
    if method == "full_field":
        return np.ones(shape, dtype=np.float32), unfitted
    with np.load(Path(task.inputs["rf"]) / f"{task.layer}.npz") as saved:
        if method == "gradient":
            return saved["maps"], unfitted
        fit = GaussianFit(**{k: saved[k] for k in GaussianFit.__dataclass_fields__})
    return localised_rf_maps(fit, stimuli["x"].values, stimuli["y"].values), \
        {"rf_fit_r2": fit.r2, "rf_fit_inside": fit.inside}


def run_information(task: Task) -> dict[str, pd.DataFrame]:
    from ..activations import ActivationStore
    from ..analysis.layers import layer_information
    from ..stimuli import load_stimuli

    subset = ActivationStore(task.inputs["store"]).subset(task.layer)
    stimuli = load_stimuli(task.inputs["stimuli"])
    maps, fit_columns = rf_maps_for(task, stimuli)
    columns = pd.DataFrame({"unit": subset["unit"].values.astype(np.int64)})
    for coord in ("channel", "y", "x"):
        if coord in subset.coords:
            columns[coord] = subset[coord].values.astype(np.int64)
    for name, values in fit_columns.items():
        columns[name] = values
    options: InformationOptions = task.options["information"]
    return layer_information(subset.values.T, stimuli, maps, columns, options, task.identity,
                             seed=task.seed, energy_maps=np.load(task.inputs["energy"]))


def run_decoding(task: Task) -> dict[str, pd.DataFrame]:
    from ..activations import ActivationStore
    from ..analysis.layers import layer_decoding
    from ..stimuli import load_stimuli

    subset = ActivationStore(task.inputs["store"]).subset(task.layer)
    options: DecodingOptions = task.options["decoding"]
    return layer_decoding(subset.values.T, subset["unit"].values, load_stimuli(
        task.inputs["stimuli"]), options, task.identity, seed=task.seed)


def _recording(task: Task):
    """The task's recorded dataset (validated against the study stimuli, in the study's
    area order) and the stimuli."""
    from ..neural import validate_responses
    from ..neural.io import load_responses
    from ..stimuli import load_stimuli

    stimuli = load_stimuli(task.inputs["stimuli"])
    ds = load_responses(task.inputs["path"], stimuli=stimuli, nwb=task.options.get("nwb"))
    if task.area_order:
        ds.attrs["area_order"] = list(task.area_order)
        validate_responses(ds)
    return ds, stimuli


def run_neural_dimension(task: Task) -> dict[str, pd.DataFrame]:
    from ..neural.analysis import area_dimension, stimuli_of

    ds, stimuli = _recording(task)
    neural: NeuralOptions = task.options["neural"]
    return area_dimension(ds, neural, task.options["dimension"],
                          images=stimuli_of(ds, stimuli)["images"].values, name=task.network,
                          seed=task.seed)


def run_neural_information(task: Task) -> dict[str, pd.DataFrame]:
    from ..neural.analysis import area_information

    ds, stimuli = _recording(task)
    members = np.flatnonzero(ds["area"].values == task.layer)
    units, sweep = area_information(ds.isel(neuron=members), stimuli,
                                    task.options["information"], name=task.network,
                                    seed=task.seed)
    units["unit"] = members[units["unit"].to_numpy()]  # index in the whole dataset
    sweep["unit"] = members[sweep["unit"].to_numpy()]
    return {"information_units": units, "invariance_units": sweep}


def run_neural_decoding(task: Task) -> dict[str, pd.DataFrame]:
    from ..neural.analysis import area_decoding

    ds, stimuli = _recording(task)
    return {"decoding_population": area_decoding(
        ds, stimuli, task.options["neural"], task.options["decoding"], name=task.network,
        areas=[task.layer], sizes=list(task.sizes), seed=task.seed)}


RUNNERS = {"dimension": run_dimension, "information": run_information,
           "decoding": run_decoding, "neural_dimension": run_neural_dimension,
           "neural_information": run_neural_information,
           "neural_decoding": run_neural_decoding}

__all__ = ["AREA_KINDS", "LAYER_KINDS", "Task", "read_tables", "run_task"]
