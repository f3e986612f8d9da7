"""Pruning, distillation and their coupling with the ID: trained vs untrained, per layer.

Operational definitions (docs/science.md, section 4), on per-unit tables from
:func:`prunedistill.analysis.units.analyse_units`:

* *pruning* at a layer: trained units carry less information about low-level variables than
  untrained ones. Verdict "yes" when both I(R;L) and I(R;C) are lower in the trained network
  (one-sided Mann-Whitney, Holm-corrected over layers, p < alpha).
* *distillation*: every independent piece of evidence is higher in the trained network (same
  test, the other tail), with at least two available: the view-invariant object information
  I_invariant, the single-unit generalisation information I_generalisation (decoders trained
  on one view, tested on the others), and f_high_L only where the layer's units are noisy
  (trials). Where every unit has one response per stimulus (deterministic
  units), I(R;S) is the response entropy (log2 3 without ties), f_high_L = 1 - I(R;L) / I(R;S)
  is a function of I(R;L), its test repeats the pruning test, and it is reported but not
  counted.

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
DISTILLATION_METRICS = ("f_high_L", "I_invariant", "I_generalisation")
MIN_DISTILLATION_EVIDENCE = 2
MID_LEVEL_METRICS = ("I_position_deg", "I_size_deg", "I_inplane_deg", "I_indepth_deg",
                     "I_orientation", "f_high_C")
# The direction that counts as training's effect: pruning lowers, distillation raises.
EXPECTED_DIRECTION = {**dict.fromkeys(PRUNING_METRICS, "less"),
                      **dict.fromkeys(DISTILLATION_METRICS, "greater"),
                      "I_position_deg": "less", "I_size_deg": "less", "I_inplane_deg": "less",
                      "I_indepth_deg": "less", "I_orientation": "less", "f_high_C": "greater"}


def _finite(table: xr.Dataset, metric: str) -> np.ndarray:
    """The metric's finite values over the layer's non-degenerate units (none when the table
    lacks the metric)."""
    if metric not in table:
        return np.zeros(0)
    values = np.asarray(table[metric].values, dtype=np.float64)
    if "degenerate" in table:
        values = values[~table["degenerate"].values.astype(bool)]
    return values[np.isfinite(values)]


def _deterministic(table: xr.Dataset) -> bool:
    """Whether every unit's I(R;S) is its response entropy (one response per stimulus), so
    that f_high_L = 1 - I(R;L) / I(R;S) is a function of I(R;L) and the unit's own bin
    occupancy; tables without the flag: whether I(R;S) is the same for every unit."""
    if "I_S_is_entropy" in table:
        return bool(np.asarray(table["I_S_is_entropy"].values, dtype=bool).all())
    values = _finite(table, "I_S")
    return bool(len(values)) and np.ptp(values) <= 1e-12


def compare_networks(trained: Mapping[str, xr.Dataset],
                     untrained: Mapping[str, Sequence[xr.Dataset]],
                     metrics: Sequence[str] = PRUNING_METRICS + DISTILLATION_METRICS
                     + MID_LEVEL_METRICS) -> pd.DataFrame:
    """One row per (layer, metric, untrained group): medians, their difference
    (trained - untrained), the one-sided Mann-Whitney test in the metric's expected direction,
    its Holm correction over layers and the effect size. ``untrained`` maps each layer to the
    tables of every untrained seed; group ``"pooled"`` pools them, ``"seed<i>"`` is one.
    ``deterministic``: every unit of both networks at the layer has one response per stimulus
    (I(R;S) is its response entropy), so f_high_L is a function of I(R;L). Metrics a table
    lacks are left out."""
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
        deterministic = all(_deterministic(t) for t in [trained[layer], *seeds])
        for metric in metrics:
            if metric not in trained[layer] or not all(metric in t for t in seeds):
                continue
            t = _finite(trained[layer], metric)
            for group, tables in groups.items():
                u = np.concatenate([_finite(table, metric) for table in tables])
                test = one_sided_rank_test(t, u, EXPECTED_DIRECTION[metric])
                rows.append({"layer": layer, "metric": metric, "untrained": group,
                             "direction": EXPECTED_DIRECTION[metric],
                             "median_trained": float(np.median(t)) if len(t) else np.nan,
                             "median_untrained": float(np.median(u)) if len(u) else np.nan,
                             "n_trained": len(t), "n_untrained": len(u),
                             "deterministic": deterministic, **test})
    table = pd.DataFrame(rows)
    table["difference"] = table["median_trained"] - table["median_untrained"]
    table["p_holm"] = np.nan
    for _, index in table.groupby(["metric", "untrained"]).groups.items():
        table.loc[index, "p_holm"] = holm_finite(table.loc[index, "p"].to_numpy())
    return table


def verdicts(comparison: pd.DataFrame, *, alpha: float = 0.05, group: str = "pooled"
             ) -> pd.DataFrame:
    """Per layer: ``pruning`` and ``distillation`` (True/False) with the differences and
    Holm p-values of the metrics behind them; ``f_high_L_counted`` (False for deterministic
    units), ``distillation_evidence`` (the metrics counted) and
    ``distillation_significant`` (how many of them were significant)."""
    rows = []
    selected = comparison[comparison["untrained"] == group]
    for layer in dict.fromkeys(selected["layer"]):
        at = selected[selected["layer"] == layer].set_index("metric")
        row = {"layer": layer}
        for metric in PRUNING_METRICS + DISTILLATION_METRICS:
            present = metric in at.index
            row[f"{metric}_difference"] = at.loc[metric, "difference"] if present else np.nan
            row[f"{metric}_p_holm"] = at.loc[metric, "p_holm"] if present else np.nan
        row["pruning"] = bool(all(at.loc[m, "p_holm"] < alpha for m in PRUNING_METRICS))
        deterministic = bool(at["deterministic"].iloc[0]) if "deterministic" in at else False
        row["f_high_L_counted"] = not deterministic
        counted = [m for m in DISTILLATION_METRICS if m in at.index
                   and np.isfinite(at.loc[m, "p_holm"])
                   and (m != "f_high_L" or not deterministic)]
        significant = [m for m in counted if at.loc[m, "p_holm"] < alpha]
        row["distillation"] = bool(len(counted) >= MIN_DISTILLATION_EVIDENCE
                                   and len(significant) == len(counted))
        row["distillation_evidence"] = ", ".join(counted)
        row["distillation_significant"] = len(significant)
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
