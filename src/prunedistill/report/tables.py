"""Tidy result tables from the analysis entries: one row per network x weights x layer x
metric (x resample), plus the trained-vs-untrained comparisons. Pure reads and pandas; the
figures and the HTML are drawn from these tables alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..dimension import expansion_contraction_phases
from ..reformatting import compare_networks, coupling, verdicts
from ..unit_analysis import summarise_units

ID_COLUMNS = ["network", "weights", "role", "layer", "layer_index"]


def _base(task, layer_index: dict) -> dict:
    role = "untrained" if task.weights.startswith("untrained") else "trained"
    return {"network": task.network, "weights": task.weights, "role": role,
            "layer": task.layer, "layer_index": layer_index[(task.network, task.layer)]}


def _with_base(table: pd.DataFrame, base: dict) -> pd.DataFrame:
    table = table.copy()
    for i, (name, value) in enumerate(base.items()):
        table.insert(i, name, value)
    return table


def _unit_dataset(units: pd.DataFrame) -> xr.Dataset:
    return xr.Dataset({c: ("unit", units[c].to_numpy()) for c in units.columns
                       if c not in ID_COLUMNS})


def collect(tasks, layer_order: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    """Read every analysis entry into tables: ``dimension``, ``dimension_resamples``,
    ``dimension_scale``, ``information_units``, ``invariance_units``,
    ``decoding_single_units``, ``decoding_population``."""
    layer_index = {(net, layer): i for net, layers in layer_order.items()
                   for i, layer in enumerate(layers)}
    parts: dict[str, list] = {k: [] for k in (
        "dimension", "dimension_resamples", "dimension_scale", "information_units",
        "invariance_units", "decoding_single_units", "decoding_population")}
    for task in tasks:
        base = _base(task, layer_index)
        folder = task.path
        if task.kind == "dimension":
            result = json.loads((folder / "dimension.json").read_text())
            resampled = result.pop("resampled")
            parts["dimension"].append({**base, **result})
            parts["dimension_resamples"].append(_with_base(pd.DataFrame(
                {"repeat": np.arange(len(resampled)), "id": resampled}), base))
            if (folder / "scale.parquet").exists():
                parts["dimension_scale"].append(
                    _with_base(pd.read_parquet(folder / "scale.parquet"), base))
        elif task.kind == "information":
            parts["information_units"].append(
                _with_base(pd.read_parquet(folder / "units.parquet"), base))
            parts["invariance_units"].append(
                _with_base(pd.read_parquet(folder / "sweep.parquet"), base))
        else:
            for name, file in (("decoding_single_units", "single_units.parquet"),
                               ("decoding_population", "population.parquet")):
                table = pd.read_parquet(folder / file)
                if len(table):
                    parts[name].append(_with_base(table, base))
    tables = {}
    for name, rows in parts.items():
        if not rows:
            continue
        table = pd.DataFrame(rows) if isinstance(rows[0], dict) else pd.concat(rows,
                                                                              ignore_index=True)
        tables[name] = table.sort_values(["network", "weights", "layer_index"],
                                         kind="stable").reset_index(drop=True)
    return tables


def information_summary(units: pd.DataFrame, *, alpha: float, n_boot: int, seed: int
                        ) -> pd.DataFrame:
    """Per instance and layer, per metric: median, bootstrap SE of the median, finite units,
    fraction significant, plus the mean (means of I_L and I_S_given_L add up to that of I_S)."""
    rows = []
    for keys, group in units.groupby(ID_COLUMNS, sort=False):
        table = _unit_dataset(group)
        summary = summarise_units(table, alpha=alpha, n_boot=n_boot, seed=seed)
        kept = group[~group["degenerate"].astype(bool)]
        metrics = [c[: -len("_median")] for c in summary if c.endswith("_median")]
        for metric in metrics:
            values = kept[metric].to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            rows.append({**dict(zip(ID_COLUMNS, keys)), "metric": metric,
                         "median": summary[f"{metric}_median"], "se": summary[f"{metric}_se"],
                         "mean": float(values.mean()) if len(values) else np.nan,
                         "n_units": summary[f"{metric}_n"],
                         "fraction_significant": summary.get(
                             f"{metric}_fraction_significant", np.nan),
                         "n_degenerate": summary["n_degenerate"]})
    return pd.DataFrame(rows)


def invariance_summary(sweep: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Median invariant information per threshold over non-degenerate units with a
    qualifying object pair."""
    degenerate = units.set_index(ID_COLUMNS[:2] + ["layer", "unit"])["degenerate"]
    key = pd.MultiIndex.from_frame(sweep[ID_COLUMNS[:2] + ["layer", "unit"]])
    kept = sweep[~degenerate.reindex(key).to_numpy(dtype=bool)]
    grouped = kept.groupby(ID_COLUMNS + ["threshold"], sort=False)["I_invariant"]
    return grouped.agg(median="median", n_units="count").reset_index()


def decoding_summary(single: pd.DataFrame) -> pd.DataFrame:
    grouped = single.groupby(ID_COLUMNS + ["protocol"], sort=False)
    return grouped.agg(percent_correct=("percent_correct", "median"),
                       information=("information", "median"),
                       chance_percent_correct=("chance_percent_correct", "median"),
                       chance_information=("chance_information", "median"),
                       n_units=("unit", "count")).reset_index()


def phases(resamples: pd.DataFrame, *, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Significant ID steps and the expansion-contraction phases of every instance."""
    steps, found = [], []
    for (network, weights), group in resamples.groupby(["network", "weights"], sort=False):
        layers = group.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
        if len(layers) < 2:
            continue
        values = [group.loc[group["layer"] == layer, "id"].to_numpy() for layer in layers]
        analysis = expansion_contraction_phases(values, layers, alpha=alpha)
        steps.append(analysis.steps.assign(network=network, weights=weights))
        for number, phase in enumerate(analysis.phases):
            found.append({"network": network, "weights": weights, "phase": number + 1,
                          "start": phase.start_name, "peak": phase.peak_name,
                          "end": phase.end_name, "start_index": phase.start,
                          "peak_index": phase.peak, "end_index": phase.end})
    columns = ["network", "weights", "phase", "start", "peak", "end", "start_index",
               "peak_index", "end_index"]
    step_table = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame()
    if len(step_table):
        step_table = step_table[["network", "weights"] + [c for c in step_table.columns
                                                          if c not in ("network", "weights")]]
    return step_table, pd.DataFrame(found, columns=columns)


def reformatting(units: pd.DataFrame, dimension: pd.DataFrame, *, alpha: float,
                 permutations: int, seed: int
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Trained vs untrained per network: the comparison table, the per-layer verdicts and
    the ID-pruning coupling. Networks without both roles are skipped."""
    comparisons, verdict_rows, couplings = [], [], []
    for network, group in units.groupby("network", sort=False):
        roles = set(group["role"])
        if roles != {"trained", "untrained"}:
            continue
        layers = group.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
        trained = {layer: _unit_dataset(group[(group.role == "trained") & (group.layer == layer)])
                   for layer in layers}
        untrained = {layer: [_unit_dataset(g) for _, g in group[
            (group.role == "untrained") & (group.layer == layer)].groupby("weights", sort=True)]
            for layer in layers}
        comparison = compare_networks(trained, untrained)
        comparisons.append(comparison.assign(network=network))
        verdict = verdicts(comparison, alpha=alpha)
        verdict_rows.append(verdict.assign(network=network))
        ids = dimension[dimension["network"] == network]
        id_trained = ids[ids.role == "trained"].set_index("layer")["id"]
        id_untrained = ids[ids.role == "untrained"].groupby("layer")["id"].mean()
        pooled = comparison[(comparison.untrained == "pooled") & (comparison.metric == "I_L")]
        info_change = pooled.set_index("layer")["difference"]
        id_change = (id_trained - id_untrained).reindex(layers)
        info_change = info_change.reindex(layers)
        result = coupling(id_change.to_numpy(), info_change.to_numpy(),
                          n_permutations=permutations, seed=seed)
        couplings.append(pd.DataFrame({"network": network, "layer": layers,
                                       "id_change": id_change.to_numpy(),
                                       "I_L_change": info_change.to_numpy(),
                                       "r": result["r"], "p": result["p"]}))

    def first(columns, frames):
        if not frames:
            return pd.DataFrame()
        table = pd.concat(frames, ignore_index=True)
        return table[columns + [c for c in table.columns if c not in columns]]

    return (first(["network"], comparisons), first(["network"], verdict_rows),
            first(["network"], couplings))


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """Every table as CSV and Parquet (``folder/NAME.csv``, ``folder/NAME.parquet``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False, float_format="%.10g")
        table.to_parquet(folder / f"{name}.parquet", index=False)
