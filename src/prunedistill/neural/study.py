"""All per-area analyses of one dataset as report tables, and the brain-vs-network tables
(shared relative-depth axis, layer-to-area similarity)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .analysis import (PIXELS, NeuralAnalysisConfig, area_decoding, area_dimension,
                       area_information, stimuli_of)
from .populations import trial_averaged
from .schema import areas_in_order


def area_summaries(units: pd.DataFrame, sweep: pd.DataFrame, *, alpha: float, n_boot: int,
                   seed: int) -> dict[str, pd.DataFrame]:
    """Per-area ``information_summary`` and ``invariance_summary``, as for layers."""
    from ..report.tables import information_summary, invariance_summary

    return {"information_summary": information_summary(units, alpha=alpha, n_boot=n_boot,
                                                       seed=seed),
            "invariance_summary": invariance_summary(sweep, units)}


def analyse_dataset(ds: xr.Dataset, stimuli: xr.Dataset, *, name: str,
                    config: NeuralAnalysisConfig = NeuralAnalysisConfig(), unit_config=None,
                    alpha: float = 0.05, n_boot: int = 1000, decoding: bool = True
                    ) -> dict[str, pd.DataFrame]:
    """Tables ``dimension*``, ``information_units``, ``invariance_units``,
    ``information_summary``, ``invariance_summary`` and ``decoding_population`` of the
    areas, with the layer columns (``layer`` = area)."""
    shown = stimuli_of(ds, stimuli)
    tables = area_dimension(ds, config, images=shown["images"].values, name=name)
    units, sweep = area_information(ds, stimuli, unit_config, name=name)
    tables.update(information_units=units, invariance_units=sweep,
                  **area_summaries(units, sweep, alpha=alpha, n_boot=n_boot, seed=config.seed))
    if decoding:
        tables["decoding_population"] = area_decoding(ds, stimuli, config, name=name)
    return tables


def _depth(stages: list[str]) -> dict[str, float]:
    return {s: i / max(1, len(stages) - 1) for i, s in enumerate(stages)}


def brain_vs_network(dimension: pd.DataFrame, summary: pd.DataFrame,
                     neural: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """One row per (source, stage, metric) with ``relative_depth`` in [0, 1]: network layers
    (trained; untrained averaged over seeds) and areas (after the pixels, which sit at 0
    like the network input)."""
    rows = []
    metrics = ("I_L", "I_S_given_L", "f_high_L", "I_invariant")
    for network, part in dimension.groupby("network", sort=False):
        layers = part.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
        depth = _depth(layers)
        info = summary[summary.network == network]
        for role in ("trained", "untrained"):
            ids = part[part.role == role].groupby("layer")
            if not len(part[part.role == role]):
                continue
            source = f"{network} {role}"
            for layer, group in ids:
                rows.append({"source": source, "kind": role, "stage": layer,
                             "relative_depth": depth[layer], "metric": "id",
                             "value": group["id_mean"].mean(),
                             "se": group["id_std"].mean()})
            for (layer, metric), group in info[(info.role == role)
                                               & info.metric.isin(metrics)].groupby(
                                                   ["layer", "metric"]):
                rows.append({"source": source, "kind": role, "stage": layer,
                             "relative_depth": depth[layer], "metric": metric,
                             "value": group["median"].mean(), "se": group["se"].mean()})
    for name, tables in neural.items():
        stages = tables["dimension"].sort_values("layer_index")["layer"].tolist()
        if PIXELS not in stages:
            stages = [PIXELS] + stages  # areas keep their place after the input
        depth = _depth(stages)
        for row in tables["dimension"].itertuples():
            rows.append({"source": name, "kind": "brain", "stage": row.layer,
                         "relative_depth": depth[row.layer], "metric": "id",
                         "value": row.id_mean, "se": row.id_std})
        info = tables["information_summary"]
        for row in info[info.metric.isin(metrics)].itertuples():
            rows.append({"source": name, "kind": "brain", "stage": row.layer,
                         "relative_depth": depth[row.layer], "metric": row.metric,
                         "value": row.median, "se": row.se})
    return pd.DataFrame(rows)


def layer_area_similarity(layer_distances: dict, ds: xr.Dataset, *, dataset: str,
                          network: str, weights: str, role: str) -> pd.DataFrame:
    """Linear CKA and RSA of every layer (``{layer: (index, distances over the study
    stimuli)}``) with every area's trial-averaged responses, over the recorded stimuli."""
    from ..similarity import euclidean_distances, linear_cka, rsa

    shared = ds["stimulus_index"].values
    rows = []
    for area_index, area in enumerate(areas_in_order(ds)):
        neurons = np.flatnonzero(ds["area"].values == area)
        area_d = euclidean_distances(trial_averaged(ds, neurons))
        for layer, (layer_index, distances) in layer_distances.items():
            layer_d = distances[np.ix_(shared, shared)]
            rows.append({"network": network, "weights": weights, "role": role,
                         "layer": layer, "layer_index": layer_index, "dataset": dataset,
                         "area": area, "area_index": area_index,
                         "cka": linear_cka(layer_d, area_d), "rsa": rsa(layer_d, area_d)})
    return pd.DataFrame(rows)
