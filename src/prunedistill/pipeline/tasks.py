"""The per-(network, layer) analyses, as picklable tasks that read their inputs from the
cache and write one cache entry each. They run in this process, in local worker processes or
on Dask workers (which must see the same file system); the results are identical."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import Cache

KINDS = ("dimension", "information", "decoding")


@dataclass(frozen=True)
class Task:
    """One analysis of one layer of one network instance.

    ``inputs`` holds paths (``store``, ``stimuli``, ``energy``, ``rf``, ``id_store``),
    ``options`` the analysis's config section as plain data, ``cost`` a rough size for
    scheduling the big ones first.
    """

    kind: str
    network: str
    weights: str
    layer: str
    cache_root: str
    key: str
    inputs: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    seed: int = 0
    cost: float = 1.0

    @property
    def stage(self) -> str:
        return f"analyse_{self.kind}"

    @property
    def path(self) -> Path:
        return Cache(self.cache_root).path(self.stage, self.key)


def run_task(task: Task) -> str:
    """Run ``task`` unless its entry exists; return the entry's path."""
    cache = Cache(task.cache_root)
    if not cache.has(task.stage, task.key):
        manifest = {"kind": task.kind, "network": task.network, "weights": task.weights,
                    "layer": task.layer, "options": task.options, "seed": task.seed,
                    "inputs": task.inputs}
        with cache.writing(task.stage, task.key, manifest) as folder:
            RUNNERS[task.kind](task, folder)
    return str(cache.path(task.stage, task.key))


def _write_table(table: pd.DataFrame, path: Path) -> None:
    table.to_parquet(path, index=False)


def run_dimension(task: Task, folder: Path) -> None:
    from ..activations import ActivationStore
    from ..dimension import twonn_resampled, twonn_scale

    o = task.options
    store = ActivationStore(task.inputs.get("id_store") or task.inputs["store"])
    distances = store.distances(task.layer)
    resampled = twonn_resampled(distances=distances, fraction=o["fraction"], subset=o["subset"],
                                repeats=o["repeats"], seed=task.seed)
    full = resampled.full
    result = {"id": full.dimension, "id_mean": resampled.mean, "id_std": resampled.std,
              "id_mle": full.dimension_mle, "id_mle_se": full.mle_standard_error,
              "n_points": full.n_points, "n_duplicates": full.n_duplicates,
              "n_degenerate": full.n_degenerate, "n_points_subset": resampled.n_points_subset,
              "resampled": resampled.values.tolist()}
    (folder / "dimension.json").write_text(json.dumps(result, indent=1))
    if o["scale"]:
        scale = twonn_scale(distances=distances, max_blocks=o["max_blocks"],
                            fraction=o["fraction"], seed=task.seed)
        _write_table(scale, folder / "scale.parquet")


def rf_maps_for(task: Task, stimuli) -> tuple[np.ndarray, np.ndarray]:
    """RF maps ``(units, y, x)`` on the stimulus grid and each unit's fit R^2 (NaN when not
    fitted). Bar-mapped units whose Gaussian fit fails (R^2 <= 0.5) get a full-field map:
    their RF cannot be localised, so they are treated as seeing the whole image."""
    from ..receptive_fields import GaussianFit, localised_rf_maps

    method = task.options["receptive_fields"]
    n_units = int(task.options["n_units"])
    shape = (n_units, stimuli.sizes["y"], stimuli.sizes["x"])
    if method == "full_field":
        return np.ones(shape, dtype=np.float32), np.full(n_units, np.nan)
    with np.load(Path(task.inputs["rf"]) / f"{task.layer}.npz") as saved:
        if method == "gradient":
            return saved["maps"], np.full(n_units, np.nan)
        fit = GaussianFit(**{k: saved[k] for k in GaussianFit.__dataclass_fields__})
    return localised_rf_maps(fit, stimuli["x"].values, stimuli["y"].values), fit.r2


def run_information(task: Task, folder: Path) -> None:
    from ..activations import ActivationStore
    from ..stimuli import load_stimuli
    from ..unit_analysis import analyse_layer
    from .options import unit_analysis_config

    subset = ActivationStore(task.inputs["store"]).subset(task.layer)
    stimuli = load_stimuli(task.inputs["stimuli"])
    maps, r2 = rf_maps_for(task, stimuli)
    config = unit_analysis_config(task.options, task.seed)
    table = analyse_layer(subset.values.T, stimuli, maps, config,
                          energy_maps=np.load(task.inputs["energy"]))
    units = pd.DataFrame({"unit": subset["unit"].values.astype(np.int64)})
    for coord in ("channel", "y", "x"):
        if coord in subset.coords:
            units[coord] = subset[coord].values.astype(np.int64)
    units["rf_fit_r2"] = r2
    for name, variable in table.data_vars.items():
        if variable.dims == ("unit",):
            units[name] = variable.values
    _write_table(units, folder / "units.parquet")
    sweep = table["I_invariant_sweep"]
    _write_table(pd.DataFrame({
        "unit": np.repeat(units["unit"].to_numpy(), sweep.sizes["threshold"]),
        "threshold": np.tile(sweep["threshold"].values, sweep.sizes["unit"]),
        "I_invariant": sweep.values.ravel()}), folder / "sweep.parquet")


def decoding_labels(stimuli) -> tuple[np.ndarray, np.ndarray, int]:
    """Object codes, view codes and the generalisation training view: the default view
    (default pose and size) at the +15 deg position for the tafazoli set, else view 0."""
    objects = np.unique(stimuli["object"].values.astype(str), return_inverse=True)[1]
    views = np.unique(stimuli["view"].values.astype(str), return_inverse=True)[1]
    train_view = 0
    if "transformation" in stimuli.coords:
        default = ((stimuli["transformation"].values == "position")
                   & np.isclose(stimuli["position_deg"].values, 15.0))
        if default.any():
            train_view = int(views[np.flatnonzero(default)[0]])
    return objects, views, train_view


def run_decoding(task: Task, folder: Path) -> None:
    from ..activations import ActivationStore
    from ..decoding import population_decoding, single_unit_decoding
    from ..stimuli import load_stimuli

    o = task.options
    subset = ActivationStore(task.inputs["store"]).subset(task.layer)
    responses = subset.values.T
    objects, views, train_view = decoding_labels(load_stimuli(task.inputs["stimuli"]))
    n_single = min(o["single_units"], len(responses))
    single, population = [], []
    for protocol in ("separability", "generalisation"):
        if n_single:
            result = single_unit_decoding(
                responses[:n_single], objects, views, protocol=protocol, n_folds=o["folds"],
                train_views=[train_view], n_shuffles=o["single_unit_shuffles"], seed=task.seed)
            single.append(pd.DataFrame({
                "unit": subset["unit"].values[:n_single].astype(np.int64), "protocol": protocol,
                "percent_correct": result.percent_correct, "information": result.information,
                "chance_percent_correct": result.chance_percent_correct,
                "chance_information": result.chance_information}))
        sizes = [s for s in o["population_sizes"] if s <= len(responses)]
        if sizes:
            result = population_decoding(responses, objects, views, sizes=sizes,
                                         n_resamples=o["resamples"], protocol=protocol,
                                         n_folds=o["folds"], train_view=train_view,
                                         seed=task.seed)
            population.append(pd.DataFrame({
                "n_units": sizes, "protocol": protocol,
                "percent_correct": result.percent_correct, "information": result.information,
                "chance_percent_correct": result.chance_percent_correct,
                "chance_information": result.chance_information}))
    empty = pd.DataFrame(columns=["protocol", "percent_correct", "information"])
    _write_table(pd.concat(single, ignore_index=True) if single else empty,
                 folder / "single_units.parquet")
    _write_table(pd.concat(population, ignore_index=True) if population else empty,
                 folder / "population.parquet")


def _recording(task: Task):
    """The task's recorded dataset (validated against the study stimuli) and the stimuli."""
    from ..neural import validate_responses
    from ..neural.io import load_responses
    from ..stimuli import load_stimuli

    stimuli = load_stimuli(task.inputs["stimuli"])
    ds = load_responses(task.inputs["path"], stimuli=stimuli)
    if task.options.get("area_order"):
        ds.attrs["area_order"] = list(task.options["area_order"])
        validate_responses(ds)
    return ds, stimuli


def _area(ds, area: str):
    members = np.flatnonzero(ds["area"].values == area)
    return ds.isel(neuron=members), members


def run_neural_dimension(task: Task, folder: Path) -> None:
    from ..neural import NeuralAnalysisConfig, area_dimension
    from ..neural.analysis import stimuli_of

    ds, stimuli = _recording(task)
    tables = area_dimension(ds, NeuralAnalysisConfig(**task.options["analysis"]),
                            images=stimuli_of(ds, stimuli)["images"].values, name=task.network)
    for name, table in tables.items():
        _write_table(table, folder / f"{name}.parquet")


def run_neural_information(task: Task, folder: Path) -> None:
    from ..neural import area_information
    from .options import unit_analysis_config

    ds, stimuli = _recording(task)
    area, members = _area(ds, task.layer)
    units, sweep = area_information(
        area, stimuli, unit_analysis_config(task.options["information"], task.seed,
                                            trials=True), name=task.network)
    units["unit"] = members[units["unit"].to_numpy()]  # index in the whole dataset
    sweep["unit"] = members[sweep["unit"].to_numpy()]
    _write_table(units, folder / "information_units.parquet")
    _write_table(sweep, folder / "invariance_units.parquet")


def run_neural_decoding(task: Task, folder: Path) -> None:
    from ..neural import NeuralAnalysisConfig, area_decoding

    ds, stimuli = _recording(task)
    table = area_decoding(ds, stimuli, NeuralAnalysisConfig(**task.options["analysis"]),
                          name=task.network, areas=[task.layer],
                          sizes=task.options["sizes"])
    _write_table(table, folder / "decoding_population.parquet")


RUNNERS = {"dimension": run_dimension, "information": run_information,
           "decoding": run_decoding, "neural_dimension": run_neural_dimension,
           "neural_information": run_neural_information,
           "neural_decoding": run_neural_decoding}
