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
one, and each trained instance against the pooled seeds. The effect size is the rank-biserial
correlation, 2 U / (n1 n2) - 1 with U the trained sample's statistic: +1 when every trained
unit is above every untrained one.

The unit-level test treats the units of one trained network as independent samples. The
*network-level* test (:func:`network_level`) replicates the effect across instances: each
instance gives one number per layer and metric (the median over its units), and the trained
instances are compared with the untrained ones by a one-sided Welch t-test, Holm over layers.
An exact permutation test of the instance labels is reported beside it: with 3 vs 3
instances its smallest p-value is 1/20, so it alone could never reject at 0.05.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..stats import (
    correlation_permutation_test,
    holm_finite,
    instance_permutation_test,
    one_sided_rank_test,
    one_sided_welch_test,
)

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


def compare_networks(trained: Mapping[str, Sequence[xr.Dataset]],
                     untrained: Mapping[str, Sequence[xr.Dataset]],
                     metrics: Sequence[str] = PRUNING_METRICS + DISTILLATION_METRICS
                     + MID_LEVEL_METRICS) -> pd.DataFrame:
    """Unit-level tests. One row per (layer, metric, trained group, untrained group):
    medians, their difference (trained - untrained), the one-sided Mann-Whitney test in the
    metric's expected direction, its Holm correction over layers and the effect size.
    ``trained`` and ``untrained`` map each layer to the tables of every instance (a single
    table is one instance). Groups: ``"pooled"`` pools the instances; ``untrained`` group
    ``"seed<i>"`` is one untrained instance (against the pooled trained ones); with several
    trained instances, ``trained`` group ``"instance<i>"`` is one trained instance (against
    the pooled untrained ones). ``deterministic``: every unit of every instance at the layer
    has one response per stimulus (I(R;S) is its response entropy), so f_high_L is a function
    of I(R;L). Metrics a table lacks are left out."""
    trained = {layer: _instances(tables) for layer, tables in trained.items()}
    layers = [layer for layer in trained if layer in untrained]
    missing = [layer for layer in trained if layer not in untrained]
    if missing:
        raise ValueError(f"layers {missing} have no untrained tables; the comparison needs "
                         "the same layers in both networks.")
    rows = []
    for layer in layers:
        seeds, instances = list(untrained[layer]), trained[layer]
        if not seeds or not instances:
            raise ValueError(f"layer {layer}: no {'untrained' if not seeds else 'trained'} "
                             "tables given.")
        groups = [("pooled", instances, "pooled", seeds)]
        groups += [("pooled", instances, f"seed{i}", [t]) for i, t in enumerate(seeds)]
        if len(instances) > 1:
            groups += [(f"instance{i}", [t], "pooled", seeds) for i, t in enumerate(instances)]
        deterministic = all(_deterministic(t) for t in [*instances, *seeds])
        for metric in metrics:
            if not all(metric in t for t in [*instances, *seeds]):
                continue
            for trained_group, trained_tables, untrained_group, untrained_tables in groups:
                t = np.concatenate([_finite(table, metric) for table in trained_tables])
                u = np.concatenate([_finite(table, metric) for table in untrained_tables])
                test = one_sided_rank_test(t, u, EXPECTED_DIRECTION[metric])
                rows.append({"layer": layer, "metric": metric, "trained": trained_group,
                             "untrained": untrained_group,
                             "direction": EXPECTED_DIRECTION[metric],
                             "median_trained": float(np.median(t)) if len(t) else np.nan,
                             "median_untrained": float(np.median(u)) if len(u) else np.nan,
                             "n_trained": len(t), "n_untrained": len(u),
                             "deterministic": deterministic, **test})
    table = pd.DataFrame(rows)
    table["difference"] = table["median_trained"] - table["median_untrained"]
    table["p_holm"] = np.nan
    for _, index in table.groupby(["metric", "trained", "untrained"]).groups.items():
        table.loc[index, "p_holm"] = holm_finite(table.loc[index, "p"].to_numpy())
    return table


def _instances(tables) -> list[xr.Dataset]:
    return [tables] if isinstance(tables, xr.Dataset) else list(tables)


def _median(table: xr.Dataset, metric: str) -> float:
    values = _finite(table, metric)
    return float(np.median(values)) if len(values) else np.nan


def network_level(trained: Mapping[str, Sequence[xr.Dataset]],
                  untrained: Mapping[str, Sequence[xr.Dataset]],
                  metrics: Sequence[str] = PRUNING_METRICS + DISTILLATION_METRICS
                  + MID_LEVEL_METRICS) -> pd.DataFrame:
    """Network-level tests: one row per (layer, metric). Each instance is one sample, its
    median over non-degenerate units. Columns: ``n_trained_instances``,
    ``n_untrained_instances``; ``trained_medians`` and ``untrained_medians`` (the instances'
    medians, ``;``-separated in the order given, each written to round-trip exactly); their
    means and SDs; ``difference`` (mean of trained medians - mean of untrained medians); the
    one-sided Welch test ``t``, ``df``, ``p`` (NaN with fewer than two instances on a side);
    ``p_holm`` (over layers, per metric); ``p_exact`` (permutation of the instance labels,
    one-sided, on the difference of means; its floor is 1 / C(n_t + n_u, n_t)); and
    ``separated`` (every trained median beyond every untrained one in the expected
    direction)."""
    rows = []
    for layer in [layer for layer in trained if layer in untrained]:
        instances, seeds = _instances(trained[layer]), list(untrained[layer])
        for metric in metrics:
            if not all(metric in t for t in [*instances, *seeds]):
                continue
            t = np.array([_median(table, metric) for table in instances])
            u = np.array([_median(table, metric) for table in seeds])
            direction = EXPECTED_DIRECTION[metric]
            welch = one_sided_welch_test(t, u, direction)
            exact = instance_permutation_test(t, u, direction)
            beyond = (t.min() > u.max()) if direction == "greater" else (t.max() < u.min())
            rows.append({"layer": layer, "metric": metric, "direction": direction,
                         "n_trained_instances": len(t), "n_untrained_instances": len(u),
                         "trained_medians": ";".join(repr(float(v)) for v in t),
                         "untrained_medians": ";".join(repr(float(v)) for v in u),
                         "mean_trained": float(np.mean(t)), "mean_untrained": float(np.mean(u)),
                         "sd_trained": float(np.std(t, ddof=1)) if len(t) > 1 else np.nan,
                         "sd_untrained": float(np.std(u, ddof=1)) if len(u) > 1 else np.nan,
                         "difference": float(np.mean(t) - np.mean(u)), **welch,
                         "p_exact": exact,
                         "separated": bool(np.all(np.isfinite(t)) and np.all(np.isfinite(u))
                                           and beyond)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_holm"] = np.nan
    for _, index in table.groupby("metric").groups.items():
        table.loc[index, "p_holm"] = holm_finite(table.loc[index, "p"].to_numpy())
    return table


def verdicts(comparison: pd.DataFrame, *, alpha: float = 0.05, group: str = "pooled",
             network: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per layer: ``pruning`` and ``distillation`` (True/False) from the unit-level tests of
    the pooled trained instances against untrained ``group``, with the differences and Holm
    p-values of the metrics behind them; ``f_high_L_counted`` (False for deterministic
    units), ``distillation_evidence`` (the metrics counted) and ``distillation_significant``
    (how many of them were significant). With the ``network`` table (:func:`network_level`):
    ``n_trained_instances``, ``n_untrained_instances``, each metric's ``*_network_p_holm``,
    and ``pruning_network`` / ``distillation_network``, the same rules applied to the
    network-level tests (NaN where a side has fewer than two instances)."""
    rows = []
    selected = comparison[comparison["untrained"] == group]
    if "trained" in selected:
        selected = selected[selected["trained"] == "pooled"]
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
        if network is not None and len(network):
            row.update(_network_verdicts(network[network["layer"] == layer], counted, alpha))
        rows.append(row)
    return pd.DataFrame(rows)


def _network_verdicts(at_layer: pd.DataFrame, counted: list[str], alpha: float) -> dict:
    """The network-level verdict columns of one layer (``counted``: the distillation
    metrics the unit-level verdict counted)."""
    at = at_layer.set_index("metric")
    row = {"n_trained_instances": int(at["n_trained_instances"].max()),
           "n_untrained_instances": int(at["n_untrained_instances"].max())}
    for metric in PRUNING_METRICS + DISTILLATION_METRICS:
        row[f"{metric}_network_p_holm"] = at.loc[metric, "p_holm"] if metric in at.index \
            else np.nan
    if row["n_trained_instances"] < 2 or row["n_untrained_instances"] < 2:
        row["pruning_network"] = row["distillation_network"] = np.nan
        return row
    row["pruning_network"] = bool(all(row[f"{m}_network_p_holm"] < alpha
                                      for m in PRUNING_METRICS))
    row["distillation_network"] = bool(
        len(counted) >= MIN_DISTILLATION_EVIDENCE
        and all(row[f"{m}_network_p_holm"] < alpha for m in counted))
    return row


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
