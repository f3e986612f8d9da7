"""Summaries of the tidy per-unit and per-resample tables, for layers and areas alike:
medians with bootstrap SEs, expansion-contraction phases, trained-vs-untrained comparisons,
verdicts and their coupling with the ID, and the brain-vs-network depth table.

Every function takes tables (:mod:`prunedistill.analysis.tables` shapes) and returns tables;
:func:`summarise` derives all of them from the collected tables of a study or a dataset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..dimension import expansion_contraction_phases
from .options import ComparisonOptions
from .reformatting import compare_networks, coupling, network_level, verdicts
from .tables import ID_COLUMNS, PIXELS, first_columns
from .units import summarise_units

PHASE_COLUMNS = ["network", "weights", "phase", "start", "peak", "end", "start_index",
                 "peak_index", "end_index"]
BRAIN_METRICS = ("I_L", "I_S_given_L", "f_high_L", "I_invariant")


def _unit_dataset(units: pd.DataFrame) -> xr.Dataset:
    return xr.Dataset({c: ("unit", units[c].to_numpy()) for c in units.columns
                       if c not in ID_COLUMNS})


def _layers(table: pd.DataFrame) -> list[str]:
    return table.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()


def information_summary(units: pd.DataFrame, *, alpha: float, n_boot: int, seed: int
                        ) -> pd.DataFrame:
    """Per instance and layer, per metric: median, bootstrap SE of the median, finite units,
    fraction significant, plus the mean (means of I_L and I_S_given_L add up to that of I_S)."""
    rows = []
    for keys, group in units.groupby(ID_COLUMNS, sort=False):
        summary = summarise_units(_unit_dataset(group), alpha=alpha, n_boot=n_boot, seed=seed)
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
    """Median single-unit decoding per instance, layer and protocol."""
    grouped = single.groupby(ID_COLUMNS + ["protocol"], sort=False)
    return grouped.agg(percent_correct=("percent_correct", "median"),
                       information=("information", "median"),
                       chance_percent_correct=("chance_percent_correct", "median"),
                       chance_information=("chance_information", "median"),
                       n_units=("unit", "count")).reset_index()


def phases(resamples: pd.DataFrame, *, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Significant ID steps and the expansion-contraction phases of every instance (or
    dataset) with at least two stages, from the resampled IDs (``id`` per ``repeat``)."""
    steps, found = [], []
    for (network, weights), group in resamples.groupby(["network", "weights"], sort=False):
        layers = _layers(group)
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
    step_table = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame()
    if len(step_table):
        step_table = first_columns(step_table, ["network", "weights"])
    return step_table, pd.DataFrame(found, columns=PHASE_COLUMNS)


def with_generalisation(units: pd.DataFrame, single: pd.DataFrame | None) -> pd.DataFrame:
    """``units`` with ``I_generalisation``: each unit's single-unit generalisation decoding
    information (bits; decoders trained on one view, tested on the others), NaN for units
    without a single-unit decoder."""
    if single is None or single.empty:
        return units
    key = ["network", "weights", "layer", "unit"]
    general = single[single["protocol"] == "generalisation"][key + ["information"]]
    general = general.rename(columns={"information": "I_generalisation"})
    return units.merge(general, on=key, how="left")


def reformatting(units: pd.DataFrame, dimension: pd.DataFrame, *, alpha: float,
                 permutations: int, seed: int) -> dict[str, pd.DataFrame]:
    """Trained vs untrained per network: ``comparison`` (unit-level tests),
    ``network_level`` (instances as samples), ``verdicts`` and ``coupling`` (ID change vs
    I(R;L) change across layers, both trained minus untrained, instances averaged).
    Networks without both roles are skipped (:func:`without_twins` names them). ``units``
    may carry ``I_generalisation`` (:func:`with_generalisation`)."""
    comparisons, networks, verdict_rows, couplings = [], [], [], []
    for network, group in units.groupby("network", sort=False):
        if set(group["role"]) != {"trained", "untrained"}:
            continue
        layers = _layers(group)
        # trained instances in the config's order, untrained ones by seed (seed<i> groups)
        trained = {layer: _instance_tables(group, "trained", layer, False) for layer in layers}
        untrained = {layer: _instance_tables(group, "untrained", layer, True)
                     for layer in layers}
        comparison = compare_networks(trained, untrained)
        comparisons.append(comparison.assign(network=network))
        replicated = network_level(trained, untrained)
        networks.append(replicated.assign(network=network))
        verdict_rows.append(verdicts(comparison, alpha=alpha, network=replicated)
                            .assign(network=network))
        ids = dimension[dimension["network"] == network]
        id_trained = ids[ids.role == "trained"].groupby("layer")["id"].mean()
        id_untrained = ids[ids.role == "untrained"].groupby("layer")["id"].mean()
        pooled = comparison[(comparison.trained == "pooled") & (comparison.untrained == "pooled")
                            & (comparison.metric == "I_L")]
        info_change = pooled.set_index("layer")["difference"].reindex(layers)
        id_change = (id_trained - id_untrained).reindex(layers)
        result = coupling(id_change.to_numpy(), info_change.to_numpy(),
                          n_permutations=permutations, seed=seed)
        couplings.append(pd.DataFrame({"network": network, "layer": layers,
                                       "id_change": id_change.to_numpy(),
                                       "I_L_change": info_change.to_numpy(),
                                       "r": result["r"], "p": result["p"]}))

    def network_first(frames):
        return first_columns(pd.concat(frames, ignore_index=True), ["network"]) if frames \
            else pd.DataFrame()

    return {"comparison": network_first(comparisons),
            "network_level": network_first(networks),
            "verdicts": network_first(verdict_rows), "coupling": network_first(couplings)}


def _instance_tables(group: pd.DataFrame, role: str, layer: str, by_weights: bool
                     ) -> list[xr.Dataset]:
    """The unit tables of every instance of ``role`` at ``layer``, in table order or
    ordered by weights spec."""
    part = group[(group.role == role) & (group.layer == layer)]
    return [_unit_dataset(g) for _, g in part.groupby("weights", sort=by_weights)]


def without_twins(units: pd.DataFrame) -> pd.DataFrame:
    """Networks that cannot have verdicts: one row per network lacking trained or untrained
    instances, with ``missing`` naming the role."""
    rows = []
    for network, group in units[units["role"] != "brain"].groupby("network", sort=False):
        for role in ("trained", "untrained"):
            if role not in set(group["role"]):
                rows.append({"network": network, "missing": role})
    return pd.DataFrame(rows, columns=["network", "missing"])


def _depth(stages: list[str]) -> dict[str, float]:
    return {s: i / max(1, len(stages) - 1) for i, s in enumerate(stages)}


def brain_vs_network(dimension: pd.DataFrame, summary: pd.DataFrame,
                     recorded: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """One row per (source, stage, metric) with ``relative_depth`` in [0, 1]: network layers
    (trained; untrained averaged over seeds) and the areas of each ``recorded`` dataset
    (its tables by name; the areas come after the pixels, which sit at 0 like the network
    input)."""
    rows = []
    for network, part in dimension.groupby("network", sort=False):
        depth = _depth(_layers(part))
        info = summary[summary.network == network]
        for role in ("trained", "untrained"):
            if not len(part[part.role == role]):
                continue
            source = f"{network} {role}"
            for layer, group in part[part.role == role].groupby("layer"):
                rows.append({"source": source, "kind": role, "stage": layer,
                             "relative_depth": depth[layer], "metric": "id",
                             "value": group["id_mean"].mean(),
                             "se": group["id_std"].mean()})
            for (layer, metric), group in info[(info.role == role)
                                               & info.metric.isin(BRAIN_METRICS)].groupby(
                                                   ["layer", "metric"]):
                rows.append({"source": source, "kind": role, "stage": layer,
                             "relative_depth": depth[layer], "metric": metric,
                             "value": group["median"].mean(), "se": group["se"].mean()})
    for name, tables in recorded.items():
        stages = tables["dimension"].sort_values("layer_index")["layer"].tolist()
        if PIXELS not in stages:
            stages = [PIXELS] + stages  # areas keep their place after the input
        depth = _depth(stages)
        for row in tables["dimension"].itertuples():
            rows.append({"source": name, "kind": "brain", "stage": row.layer,
                         "relative_depth": depth[row.layer], "metric": "id",
                         "value": row.id_mean, "se": row.id_std})
        info = tables["information_summary"]
        for row in info[info.metric.isin(BRAIN_METRICS)].itertuples():
            rows.append({"source": name, "kind": "brain", "stage": row.layer,
                         "relative_depth": depth[row.layer], "metric": row.metric,
                         "value": row.median, "se": row.se})
    return pd.DataFrame(rows)


def summarise(found: dict[str, pd.DataFrame], *, dimension_alpha: float,
              information_alpha: float, comparison: ComparisonOptions, seed: int
              ) -> dict[str, pd.DataFrame]:
    """Every derived table of collected results (a study's layers or a dataset's areas):
    ``dimension_steps``, ``dimension_phases``, ``information_summary``,
    ``invariance_summary``, ``comparison``, ``verdicts``, ``coupling`` (trained networks
    with untrained twins only) and ``decoding_single_summary``, each where its inputs
    exist."""
    derived = {}
    if "dimension_resamples" in found:
        derived["dimension_steps"], derived["dimension_phases"] = phases(
            found["dimension_resamples"], alpha=dimension_alpha)
    if "information_units" in found:
        units = found["information_units"]
        derived["information_summary"] = information_summary(
            units, alpha=information_alpha, n_boot=comparison.bootstrap, seed=seed)
        derived["invariance_summary"] = invariance_summary(found["invariance_units"], units)
        if "dimension" in found and (units["role"] != "brain").any():
            compared = reformatting(
                with_generalisation(units, found.get("decoding_single_units")),
                found["dimension"], alpha=comparison.alpha,
                permutations=comparison.coupling_permutations, seed=seed)
            derived.update({name: table for name, table in compared.items() if len(table)})
            missing = without_twins(units)
            if len(missing):
                derived["without_twins"] = missing
    if "decoding_single_units" in found:
        derived["decoding_single_summary"] = decoding_summary(found["decoding_single_units"])
    return derived
