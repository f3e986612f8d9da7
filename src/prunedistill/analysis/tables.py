"""The tidy table shapes shared by layers and areas, built in one place.

Every result row starts with the identity columns ``network, weights, role, layer,
layer_index``. For a recorded dataset ``network`` is the dataset's name, ``weights`` is
"recorded", ``role`` is "brain" and ``layer`` is the area, so every summary, test and figure
applies to layers and areas alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

ID_COLUMNS = ["network", "weights", "role", "layer", "layer_index"]
RECORDED = "recorded"
PIXELS = "pixels"  # the input stage of a recorded hierarchy, before its first area


def role_of(weights: str) -> str:
    """"brain" for recorded data, "untrained" for ``untrained:<seed>``, else "trained"."""
    if weights == RECORDED:
        return "brain"
    return "untrained" if weights.startswith("untrained") else "trained"


def identity(network: str, weights: str, layer: str, layer_index: int) -> dict:
    """The identity columns of one layer (or area) of one network instance (or dataset)."""
    return {"network": network, "weights": weights, "role": role_of(weights), "layer": layer,
            "layer_index": int(layer_index)}


def with_identity(table: pd.DataFrame, ident: dict) -> pd.DataFrame:
    """``table`` with the identity columns first."""
    table = table.copy()
    for i, (name, value) in enumerate(ident.items()):
        table.insert(i, name, value)
    return table


def unit_tables(result: xr.Dataset, unit_columns: pd.DataFrame
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(units, sweep)`` tables of :func:`prunedistill.analysis.units.analyse_units`
    results: ``unit_columns`` (one row per unit: ``unit`` first, then descriptive columns)
    followed by every per-unit variable and the bias correction used; and the invariance
    sweep, one row per unit and threshold (``unit, threshold, I_invariant``)."""
    units = unit_columns.reset_index(drop=True).copy()
    for name, variable in result.data_vars.items():
        if variable.dims == ("unit",):
            units[name] = variable.values
    if "bias_correction" in result.attrs:
        units["bias_correction"] = str(result.attrs["bias_correction"])
    sweep = result["I_invariant_sweep"]
    sweep_table = pd.DataFrame({
        "unit": np.repeat(units["unit"].to_numpy(), sweep.sizes["threshold"]),
        "threshold": np.tile(sweep["threshold"].values, sweep.sizes["unit"]),
        "I_invariant": sweep.values.ravel()})
    return units, sweep_table


def decoding_table(result, protocol: str, **columns) -> pd.DataFrame:
    """One decoding result (:class:`prunedistill.decoding.DecodingResult`) as rows:
    ``columns`` (e.g. ``unit`` or ``n_units``), ``protocol``, percent correct, information
    and their chance levels."""
    return pd.DataFrame({
        **columns, "protocol": protocol, "percent_correct": result.percent_correct,
        "information": result.information,
        "chance_percent_correct": result.chance_percent_correct,
        "chance_information": result.chance_information})


def concat_sorted(frames: list[pd.DataFrame], by: list[str]) -> pd.DataFrame:
    """Frames concatenated and stably sorted (ties keep their order)."""
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(by, kind="stable").reset_index(drop=True)


def first_columns(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``table`` with ``columns`` moved to the front."""
    return table[columns + [c for c in table.columns if c not in columns]]
