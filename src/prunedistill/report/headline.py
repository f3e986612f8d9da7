"""The report's first section: what was found, per network and per recording, in sentences
written from the tables (phases, verdicts and their statistics, coupling). Nothing is
computed here that the tables do not already hold."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .figures import short_name

ALPHA_NOTE = ("one-sided Mann-Whitney U of trained vs pooled untrained units, Holm-corrected "
              "over layers")


METRIC_NAMES = {"I_L": "I(R;L)", "I_C": "I(R;C)", "f_high_L": "f_high",
                "I_invariant": "invariant I(R;O)", "I_generalisation": "generalisation I"}


def _profile(dimension: pd.DataFrame, network: str, weights: str) -> str:
    rows = dimension[(dimension.network == network) & (dimension.weights == weights)]
    rows = rows.sort_values("layer_index").reset_index(drop=True)
    peak = rows.loc[rows["id_mean"].idxmax()]
    first, last = rows.iloc[0], rows.iloc[-1]
    if peak.layer in (first.layer, last.layer):
        return (f"ID {first.id_mean:.1f} at {short_name(first.layer)} to "
                f"{last.id_mean:.1f} at {short_name(last.layer)}, highest at "
                f"{short_name(peak.layer)}")
    return (f"ID {first.id_mean:.1f} at {short_name(first.layer)}, peak {peak.id_mean:.1f} "
            f"at {short_name(peak.layer)}, {last.id_mean:.1f} at {short_name(last.layer)}")


def _phase_text(phases: pd.DataFrame | None, network: str, weights: str) -> str:
    if phases is None:
        return "phases not tested"
    found = phases[(phases.network == network) & (phases.weights == weights)]
    if found.empty:
        return "no significant expansion-contraction phase"
    runs = "; ".join(f"{short_name(p.start)} &rarr; {short_name(p.peak)} &rarr; "
                     f"{short_name(p.end)}" for p in found.itertuples())
    return f"{len(found)} significant expansion-contraction phase(s): {runs}"


def _dimension_sentences(tables: dict, network: str) -> list[str]:
    dimension = tables["dimension"]
    phases = tables.get("dimension_phases")
    mine = dimension[dimension.network == network]
    out = []
    for weights in dict.fromkeys(w for w in mine["weights"] if not w.startswith("untrained")):
        out.append(f"<b>{html.escape(weights)}</b>: {_profile(dimension, network, weights)}; "
                   f"{_phase_text(phases, network, weights)}.")
    untrained = sorted(w for w in mine["weights"].unique() if w.startswith("untrained"))
    if untrained:
        with_phase = [w for w in untrained if phases is not None and (
            (phases.network == network) & (phases.weights == w)).any()]
        profiles = "; ".join(f"{w}: {_profile(dimension, network, w)}" for w in untrained)
        out.append(f"<b>untrained</b> ({len(untrained)} seeds): a significant phase in "
                   f"{len(with_phase)} of {len(untrained)} ({profiles}).")
    return out


def _verdict_sentence(verdicts: pd.DataFrame, kind: str, metrics: tuple[str, ...],
                      words: str) -> str:
    yes = verdicts[verdicts[kind]]
    total = len(verdicts)
    if yes.empty:
        return f"<b>{kind.capitalize()}</b> ({words}) at none of the {total} layers."
    layers = ", ".join(short_name(layer) for layer in yes["layer"])
    metrics = tuple(m for m in metrics if f"{m}_difference" in yes
                    and yes[f"{m}_difference"].notna().any())
    ranges = "; ".join(
        f"&Delta;{METRIC_NAMES[m]} {yes[f'{m}_difference'].min():+.3g} to "
        f"{yes[f'{m}_difference'].max():+.3g}, p<sub>Holm</sub> &le; "
        f"{yes[f'{m}_p_holm'].max():.2g}" for m in metrics)
    return (f"<b>{kind.capitalize()}</b> ({words}) at {len(yes)} of {total} layers: "
            f"{layers} ({ranges}).")


def _reformatting_sentences(tables: dict, network: str, alpha: float | None) -> list[str]:
    verdicts = tables.get("verdicts")
    if verdicts is None or verdicts.empty or not (verdicts.network == network).any():
        missing = tables.get("without_twins")
        lacks = "trained weights or untrained twins"
        if missing is not None and (missing.network == network).any():
            role = missing.loc[missing.network == network, "missing"].iloc[0]
            lacks = "trained weights" if role == "trained" else "untrained twins"
        return [f"<b>No pruning or distillation verdicts</b>: this network has no {lacks}, "
                "so there is nothing to compare it with. Its ID profile and information are "
                "reported below."]
    mine = verdicts[verdicts.network == network]
    level = f", &alpha; = {alpha:g}" if alpha else ""
    counted_nowhere = "f_high_L_counted" in mine and not mine["f_high_L_counted"].any()
    out = [_verdict_sentence(mine, "pruning", ("I_L", "I_C"),
                             "I(R;L) and I(R;C) both lower in the trained network"),
           _verdict_sentence(mine, "distillation", ("I_invariant", "I_generalisation")
                             + (() if counted_nowhere else ("f_high_L",)),
                             "the independent evidence higher: invariant object information, "
                             "single-unit generalisation decoding"
                             + ("" if counted_nowhere else ", f_high"))]
    if "f_high_L_counted" in mine and not mine["f_high_L_counted"].all():
        out.append("f_high is not counted as distillation evidence where units give one "
                   "response per stimulus (deterministic units): there I(R;S) is the "
                   "response entropy, f_high a function of I(R;L), and its test repeats the "
                   "pruning test.")
    coupling = tables.get("coupling")
    if coupling is not None and (coupling.network == network).any():
        row = coupling[coupling.network == network].iloc[0]
        out.append(f"ID change vs I(R;L) change across layers: r = {row.r:.2f} "
                   f"(permutation p = {row.p:.3g}).")
    out.append(f"Tests: {ALPHA_NOTE}{level}. Unit level: the units of the trained "
               "instances are the samples.")
    out.append(_network_level_sentence(mine))
    return out


def _network_level_sentence(mine: pd.DataFrame) -> str:
    """The network-level replication of the verdicts, or why there is none (n = 1)."""
    if "n_trained_instances" not in mine:
        return "Network level: not computed (n = 1 trained network)."
    n_trained = int(mine["n_trained_instances"].max())
    n_untrained = int(mine["n_untrained_instances"].max())
    if n_trained < 2 or n_untrained < 2:
        return (f"<b>Network level: n = {n_trained} trained network</b> (and {n_untrained} "
                "untrained): the effects rest on the units of one trained instance and are "
                "not replicated across trained networks; the network-level test needs at "
                "least 2 instances on each side.")
    parts = []
    for kind in ("pruning", "distillation"):
        yes = mine[mine[f"{kind}_network"].astype(bool)]
        where = ", ".join(short_name(layer) for layer in yes["layer"]) or "none"
        parts.append(f"{kind} at {len(yes)} of {len(mine)} layers ({where})")
    return (f"<b>Network level</b> ({n_trained} trained vs {n_untrained} untrained instances; "
            "each instance's median is one sample; one-sided Welch t-test, Holm over "
            f"layers): {'; '.join(parts)}.")


def _recorded_sentences(tables: dict, prefix: str) -> list[tuple[str, list[str]]]:
    dimension = tables.get(f"{prefix}dimension")
    if dimension is None or dimension.empty:
        return []
    phases = tables.get(f"{prefix}dimension_phases")
    summary = tables.get(f"{prefix}information_summary")
    decoding = tables.get(f"{prefix}decoding_population")
    out = []
    for name in dict.fromkeys(dimension["network"]):
        rows = dimension[dimension.network == name].sort_values("layer_index")
        measured = rows[np.isfinite(rows["id_mean"].to_numpy(dtype=float))]
        items = []
        if len(measured):
            profile = ", ".join(f"{r.layer} {r.id_mean:.1f}" for r in measured.itertuples())
            items.append(f"ID along the hierarchy ({measured['construction'].iloc[-1]}): "
                         f"{profile}; {_phase_text(phases, name, 'recorded')}.")
        for row in rows[~rows.index.isin(measured.index)].itertuples():
            reason = getattr(row, "note", "") or "no estimate"
            items.append(f"ID of {row.layer} not estimated: {html.escape(str(reason))}")
        for metric, words in (("I_S", "Stimulus information per neuron (median I(R;S)"),
                              ("I_O", "Object/category information per neuron, pooled over "
                                      "each object's stimuli (median I(R;O)")):
            if summary is None or not len(summary):
                break
            mine = summary[(summary.network == name) & (summary.metric == metric)]
            if len(mine) and np.isfinite(mine["median"].to_numpy(dtype=float)).any():
                items.append(f"{words}, bias-corrected; fraction significant): " + ", ".join(
                    f"{r.layer} {r.median:.3f} bits ({r.fraction_significant:.0%})"
                    for r in mine.sort_values("layer_index").itertuples()) + ".")
        if decoding is not None and len(decoding):
            mine = decoding[(decoding.network == name)
                            & (decoding.protocol == "separability")]
            if len(mine):
                largest = mine[mine.n_units == mine.n_units.max()].sort_values("layer_index")
                items.append(f"Population decoding ({int(largest.n_units.iloc[0])} neurons, "
                             "separability): " + ", ".join(
                                 f"{r.layer} {r.percent_correct:.1f} % (chance "
                                 f"{r.chance_percent_correct:.1f} %)"
                                 for r in largest.itertuples()) + ".")
        out.append((f"{name} (recorded)", items))
    return out


def negative_note(tables: dict) -> str:
    """One sentence when some bias-corrected median is below zero, else empty."""
    summary = tables.get("information_summary")
    if summary is None or summary.empty:
        return ""
    # below -1e-3 bits: rounding-level negatives (-1e-17) are zero, not worth a word
    negative = summary[(summary["median"] < -1e-3) & summary.metric.str.startswith("I_")]
    if negative.empty:
        return ""
    low = negative["median"].min()
    return ("<p class='note'>Some medians are below zero (down to "
            f"{low:.3g} bits): bias-corrected information estimates the information minus "
            "its limited-sampling bias, so a unit that carries none scatters around zero, "
            "negative values included. Negative medians mean no detectable information.</p>")


def headline(tables: dict, *, alpha: float | None = None) -> str:
    """The findings section's HTML."""
    blocks = []
    if "dimension" in tables and len(tables["dimension"]):
        for network in dict.fromkeys(tables["dimension"]["network"]):
            if (tables["dimension"].loc[tables["dimension"].network == network, "weights"]
                    == "recorded").all():
                continue
            items = _dimension_sentences(tables, network) + _reformatting_sentences(
                tables, network, alpha)
            blocks.append((network, items))
    blocks += _recorded_sentences(tables, "neural_")
    if "dimension" in tables and (tables["dimension"]["weights"] == "recorded").all():
        blocks += _recorded_sentences(tables, "")
    if not blocks:
        return "<p>No analyses to summarise.</p>"
    parts = [f"<h3>{html.escape(name)}</h3><ul>" + "".join(f"<li>{s}</li>" for s in items)
             + "</ul>" for name, items in blocks]
    return "".join(parts)
