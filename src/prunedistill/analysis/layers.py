"""The per-layer analyses of one network instance, from arrays to tidy tables: TwoNN ID with
its resamples and scale analysis, single-unit information, and invariant decoding.

Each function returns ``{table name: DataFrame}`` with the identity columns first
(:mod:`prunedistill.analysis.tables`); recorded areas go through the same shapes in
:mod:`prunedistill.neural.analysis`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..decoding import population_decoding, single_unit_decoding
from ..dimension import twonn_resampled, twonn_scale
from ..stimuli.sets import decoding_labels
from .options import DecodingOptions, DimensionOptions, InformationOptions
from .tables import decoding_table, unit_tables, with_identity
from .units import analyse_layer

DECODING_PROTOCOLS = ("separability", "generalisation")


def layer_dimension(distances, options: DimensionOptions, ident: dict, *, seed: int
                    ) -> dict[str, pd.DataFrame]:
    """TwoNN of one layer from its distance matrix (or points): ``dimension`` (one row: the
    full estimate, mean +- std over random subsets, MLE and its SE, points and drops),
    ``dimension_resamples`` (one row per subset) and ``dimension_scale`` when
    ``options.scale``. A layer whose points admit no estimate (a constant layer, ties
    everywhere) gets one row of NaN with the reason in ``note``, so the study goes on."""
    try:
        resampled = twonn_resampled(distances=distances, fraction=options.fraction,
                                    subset=options.subset, repeats=options.repeats, seed=seed)
    except ValueError as error:  # e.g. a constant layer: every point a duplicate
        return {"dimension": pd.DataFrame([{**ident, "id": np.nan, "id_mean": np.nan,
                                            "id_std": np.nan, "note": str(error)}])}
    full = resampled.full
    row = {**ident, "id": full.dimension, "id_mean": resampled.mean, "id_std": resampled.std,
           "id_mle": full.dimension_mle, "id_mle_se": full.mle_standard_error,
           "n_points": full.n_points, "n_duplicates": full.n_duplicates,
           "n_degenerate": full.n_degenerate, "n_points_subset": resampled.n_points_subset}
    tables = {"dimension": pd.DataFrame([row]),
              "dimension_resamples": with_identity(pd.DataFrame(
                  {"repeat": np.arange(len(resampled.values)),
                   "id": resampled.values.astype(np.float64)}), ident)}
    if options.scale:
        tables["dimension_scale"] = with_identity(twonn_scale(
            distances=distances, max_blocks=options.max_blocks, fraction=options.fraction,
            seed=seed), ident)
    return tables


def layer_information(responses: np.ndarray, stimuli: xr.Dataset, rf_maps: np.ndarray,
                      unit_columns: pd.DataFrame, options: InformationOptions, ident: dict, *,
                      seed: int, energy_maps: np.ndarray | None = None
                      ) -> dict[str, pd.DataFrame]:
    """Single-unit information of ``responses (units, stimuli)`` (or recorded counts
    ``(units, stimuli, trials)``) with RF maps ``(units, y, x)`` on the stimulus grid:
    ``information_units`` (``unit_columns``, then every per-unit term) and
    ``invariance_units`` (the luminosity-ratio sweep)."""
    result = analyse_layer(responses, stimuli, rf_maps, options, seed=seed,
                           energy_maps=energy_maps)
    units, sweep = unit_tables(result, unit_columns)
    return {"information_units": with_identity(units, ident),
            "invariance_units": with_identity(sweep, ident)}


def layer_decoding(responses: np.ndarray, unit_ids: np.ndarray, stimuli: xr.Dataset,
                   options: DecodingOptions, ident: dict, *, seed: int
                   ) -> dict[str, pd.DataFrame]:
    """Object decoding from ``responses (units, stimuli)``, both protocols:
    ``decoding_single_units`` (threshold decoders on the first ``single_units`` units) and
    ``decoding_population`` (linear SVMs on random populations of each size not above the
    layer's units). A table with no rows is left out."""
    objects, views, train_view = decoding_labels(stimuli)
    if objects.max() < 1:
        raise ValueError("decoding needs at least two objects and the stimulus set has one; "
                         "add objects or set decoding.enabled: false.")
    n_single = min(options.single_units, len(responses))
    # evenly spaced over the subset (sorted by flat index, so channel-major): every channel
    # range is decoded, not only the first channels of a conv layer
    decoded = np.unique(np.linspace(0, len(responses) - 1, n_single).round().astype(int)) \
        if n_single else np.zeros(0, dtype=int)
    sizes = [s for s in options.population_sizes if s <= len(responses)]
    single, population = [], []
    for protocol in DECODING_PROTOCOLS:
        if n_single:
            result = single_unit_decoding(
                responses[decoded], objects, views, protocol=protocol,
                n_folds=options.folds, train_views=[train_view],
                n_shuffles=options.single_unit_shuffles, seed=seed)
            single.append(decoding_table(result, protocol,
                                         unit=np.asarray(unit_ids[decoded], np.int64)))
        if sizes:
            result = population_decoding(responses, objects, views, sizes=sizes,
                                         n_resamples=options.resamples, protocol=protocol,
                                         n_folds=options.folds, train_view=train_view,
                                         seed=seed)
            population.append(decoding_table(result, protocol, n_units=sizes))
    tables = {}
    if single:
        tables["decoding_single_units"] = with_identity(pd.concat(single, ignore_index=True),
                                                        ident)
    if population:
        tables["decoding_population"] = with_identity(
            pd.concat(population, ignore_index=True), ident)
    return tables
