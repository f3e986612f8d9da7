"""Pruning, distillation and their coupling with the ID: trained vs untrained, per layer.

Operational definitions (docs/science.md, section 4), on per-unit tables from
:func:`prunedistill.analysis.units.analyse_units`:

* *pruning* at a layer: trained units carry less information about low-level variables than
  untrained ones. Verdict "yes" when both I(R;L) and I(R;C) are lower in the trained network
  (one-sided Mann-Whitney, Holm-corrected over layers, p < alpha).
* *distillation*: the luminance-independent fraction f_high and the view-invariant object
  information are higher in the trained network. Verdict "yes" when both f_high_L and
  I_invariant are higher (same test, the other tail).

Units with a single response value (degenerate) are left out of every comparison.
Mid-level variables (position, size, rotations, orientation energy) are compared the same way
and reported, but do not enter the verdicts. Untrained seeds are compared pooled and one by
one. The effect size is the rank-biserial correlation, 2 U / (n1 n2) - 1 with U the trained
sample's statistic: +1 when every trained unit is above every untrained one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..stats import correlation_permutation_test, holm_finite, one_sided_rank_test

PRUNING_METRICS = ("I_L", "I_C")
DISTILLATION_METRICS = ("f_high_L", "I_invariant")
MID_LEVEL_METRICS = ("I_position_deg", "I_size_deg", "I_inplane_deg", "I_indepth_deg",
                     "I_orientation", "f_high_C")
# The direction that counts as training's effect: pruning lowers, distillation raises.
EXPECTED_DIRECTION = {**dict.fromkeys(PRUNING_METRICS, "less"),
                      **dict.fromkeys(DISTILLATION_METRICS, "greater"),
                      "I_position_deg": "less", "I_size_deg": "less", "I_inplane_deg": "less",
                      "I_indepth_deg": "less", "I_orientation": "less", "f_high_C": "greater"}


def _finite(table: xr.Dataset, metric: str) -> np.ndarray:
    """The metric's finite values over the layer's non-degenerate units."""
    values = np.asarray(table[metric].values, dtype=np.float64)
    if "degenerate" in table:
        values = values[~table["degenerate"].values.astype(bool)]
    return values[np.isfinite(values)]


def compare_networks(trained: Mapping[str, xr.Dataset],
                     untrained: Mapping[str, Sequence[xr.Dataset]],
                     metrics: Sequence[str] = PRUNING_METRICS + DISTILLATION_METRICS
                     + MID_LEVEL_METRICS) -> pd.DataFrame:
    """One row per (layer, metric, untrained group): medians, their difference
    (trained - untrained), the one-sided Mann-Whitney test in the metric's expected direction,
    its Holm correction over layers and the effect size. ``untrained`` maps each layer to the
    tables of every untrained seed; group ``"pooled"`` pools them, ``"seed<i>"`` is one."""
    layers = [layer for layer in trained if layer in untrained]
    missing = [layer for layer in trained if layer not in untrained]
    if missing:
        raise ValueError(f"layers {missing} have no untrained tables; the comparison needs "
                         "the same layers in both networks.")
    rows = []
    for layer in layers:
        seeds = list(untrained[layer])
        if not seeds:
            raise ValueError(f"layer {layer}: no untrained tables given.")
        groups = {"pooled": seeds, **{f"seed{i}": [t] for i, t in enumerate(seeds)}}
        for metric in metrics:
            t = _finite(trained[layer], metric)
            for group, tables in groups.items():
                u = np.concatenate([_finite(table, metric) for table in tables])
                test = one_sided_rank_test(t, u, EXPECTED_DIRECTION[metric])
                rows.append({"layer": layer, "metric": metric, "untrained": group,
                             "direction": EXPECTED_DIRECTION[metric],
                             "median_trained": float(np.median(t)) if len(t) else np.nan,
                             "median_untrained": float(np.median(u)) if len(u) else np.nan,
                             "n_trained": len(t), "n_untrained": len(u), **test})
    table = pd.DataFrame(rows)
    table["difference"] = table["median_trained"] - table["median_untrained"]
    table["p_holm"] = np.nan
    for _, index in table.groupby(["metric", "untrained"]).groups.items():
        table.loc[index, "p_holm"] = holm_finite(table.loc[index, "p"].to_numpy())
    return table


def verdicts(comparison: pd.DataFrame, *, alpha: float = 0.05, group: str = "pooled"
             ) -> pd.DataFrame:
    """Per layer: ``pruning`` and ``distillation`` (True/False) with the differences and
    Holm p-values of the metrics behind them."""
    rows = []
    selected = comparison[comparison["untrained"] == group]
    for layer in dict.fromkeys(selected["layer"]):
        at = selected[selected["layer"] == layer].set_index("metric")
        row = {"layer": layer}
        for metric in PRUNING_METRICS + DISTILLATION_METRICS:
            row[f"{metric}_difference"] = at.loc[metric, "difference"]
            row[f"{metric}_p_holm"] = at.loc[metric, "p_holm"]
        row["pruning"] = bool(all(at.loc[m, "p_holm"] < alpha for m in PRUNING_METRICS))
        row["distillation"] = bool(all(at.loc[m, "p_holm"] < alpha for m in DISTILLATION_METRICS))
        rows.append(row)
    return pd.DataFrame(rows)


def coupling(id_change, information_change, *, n_permutations: int = 10_000,
             seed: int = 0) -> dict:
    """Pearson correlation across layers between the ID change and the low-level information
    change (both trained minus untrained, one value per layer), with a two-sided permutation
    p-value (layers shuffled); ``n_layers`` counts the layers where both are finite."""
    x = np.asarray(id_change, dtype=np.float64)
    y = np.asarray(information_change, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"need one ID change and one information change per layer; got "
                         f"shapes {x.shape} and {y.shape}.")
    result = correlation_permutation_test(x, y, n_permutations=n_permutations, seed=seed)
    return {"r": result["r"], "p": result["p"], "n_layers": result["n"]}
