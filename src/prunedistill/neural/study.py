"""All per-area analyses of one dataset as tables, and the layer-to-area similarity of a
network's layers with a dataset's areas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..analysis.options import (
    ComparisonOptions,
    DecodingOptions,
    DimensionOptions,
    InformationOptions,
    NeuralOptions,
)
from ..analysis.summaries import summarise
from ..similarity import euclidean_distances, linear_cka, rsa
from .analysis import area_decoding, area_dimension, area_information, stimuli_of
from .populations import trial_averaged
from .schema import areas_in_order


def analyse_dataset(ds: xr.Dataset, stimuli: xr.Dataset | None, *, name: str,
                    neural: NeuralOptions = NeuralOptions(),
                    dimension: DimensionOptions = DimensionOptions(),
                    information: InformationOptions = InformationOptions(),
                    decoding: DecodingOptions = DecodingOptions(),
                    comparison: ComparisonOptions = ComparisonOptions(), seed: int = 0
                    ) -> dict[str, pd.DataFrame]:
    """Tables ``dimension*`` (with steps and phases), ``information_units``,
    ``invariance_units``, ``information_summary``, ``invariance_summary`` and (when
    ``neural.decoding``) ``decoding_population`` of the areas, with the identity columns
    (``layer`` = area). ``stimuli`` None: the recording's own stimulus table (ids only), so
    the analyses that need images or RF maps are left out (NaN)."""
    shown = stimuli_of(ds, stimuli)
    tables = area_dimension(ds, neural, dimension, name=name, seed=seed,
                            images=None if shown is None else shown["images"].values)
    units, sweep = area_information(ds, stimuli, information, name=name, seed=seed)
    tables.update(information_units=units, invariance_units=sweep)
    if neural.decoding:
        tables["decoding_population"] = area_decoding(ds, stimuli, neural, decoding, name=name,
                                                       seed=seed)
    tables.update(summarise(tables, dimension_alpha=dimension.alpha,
                            information_alpha=information.alpha, comparison=comparison,
                            seed=seed))
    return tables


def layer_area_similarity(layer_distances: dict, ds: xr.Dataset, *, dataset: str,
                          network: str, weights: str, role: str) -> pd.DataFrame:
    """Linear CKA and RSA of every layer (``{layer: (index, distances over the study
    stimuli)}``) with every area's trial-averaged responses, over the recorded stimuli."""

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
