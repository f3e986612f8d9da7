"""The report's figures, each drawn from result tables only, saved as PNG and SVG.

Colours are fixed across figures: the trained network in blue, untrained seeds in shades of
orange (one per seed); layers are on the x axis in execution order."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TRAINED = "#1f4e9c"
BRAIN = "#238b45"
UNTRAINED = ["#e6550d", "#fd8d3c", "#a63603", "#fdae6b", "#7f2704"]
EXPANSION = "#c7e9c0"
CONTRACTION = "#fcbba1"


def instance_style(weights: str, untrained_order: list[str]) -> dict:
    if weights == "recorded":
        return {"color": BRAIN, "marker": "D", "linestyle": "-", "linewidth": 2, "zorder": 3}
    if not weights.startswith("untrained"):
        return {"color": TRAINED, "marker": "o", "linestyle": "-", "linewidth": 2, "zorder": 3}
    i = untrained_order.index(weights) if weights in untrained_order else 0
    return {"color": UNTRAINED[i % len(UNTRAINED)], "marker": "s", "linestyle": "--",
            "linewidth": 1.3, "zorder": 2}


def _untrained(table: pd.DataFrame) -> list[str]:
    return sorted(w for w in table["weights"].unique() if w.startswith("untrained"))


def _layers(table: pd.DataFrame) -> list[str]:
    return table.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()


def _x(group: pd.DataFrame, layers: list[str]) -> np.ndarray:
    """Positions on the layer axis (the order of ``layers``)."""
    return group["layer"].map({layer: i for i, layer in enumerate(layers)}).to_numpy()


def _short(layer: str) -> str:
    """Axis label: the last name component, with its parent when it is an index
    (``features.pool3`` -> ``pool3``, ``layer1.0`` stays ``layer1.0``)."""
    parts = layer.split(".")
    return ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]


def _layer_axis(ax, layers: list[str]) -> None:
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([_short(layer) for layer in layers], rotation=45, ha="right")
    ax.set_xlabel("layer")


def save(fig, folder: Path, name: str) -> list[str]:
    fig.savefig(folder / f"{name}.png", dpi=130, bbox_inches="tight")
    fig.savefig(folder / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return [f"{name}.png", f"{name}.svg"]


def _networks(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["network"]))


def _panels(n: int, width: float = 5.2, height: float = 3.6, columns: int | None = None):
    columns = columns or min(n, 3)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows),
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def dimension_profile(dimension: pd.DataFrame, phases: pd.DataFrame, folder: Path) -> list[str]:
    """ID (TwoNN, mean +- std over 90 % subsets) vs layer per network; the trained network's
    significant expansion (green) and contraction (red) phases shaded."""
    networks = _networks(dimension)
    fig, axes = _panels(len(networks), 6.5, 4.2)
    for ax, network in zip(axes, networks):
        table = dimension[dimension.network == network]
        layers, order = _layers(table), _untrained(table)
        for weights, group in table.groupby("weights", sort=False):
            group = group.sort_values("layer_index")
            style = instance_style(weights, order)
            ax.errorbar(_x(group, layers), group["id_mean"], yerr=group["id_std"],
                        label=weights, capsize=3, **style)
        trained = [w for w in table["weights"].unique() if not w.startswith("untrained")]
        if phases is not None and len(phases) and trained:
            for _, phase in phases[(phases.network == network)
                                   & (phases.weights == trained[0])].iterrows():
                ax.axvspan(phase.start_index, phase.peak_index, color=EXPANSION, zorder=0)
                ax.axvspan(phase.peak_index, phase.end_index, color=CONTRACTION, zorder=0)
        _layer_axis(ax, layers)
        ax.set_ylabel("intrinsic dimension (TwoNN)")
        ax.set_title(f"{network}: ID profile (shaded: significant expansion / contraction)")
        ax.legend(fontsize=8)
    return save(fig, folder, "dimension_profile")


def _per_layer_lines(table: pd.DataFrame, x: str, y: str, *, xlabel: str, ylabel: str,
                     title: str, name: str, folder: Path, log_x: bool = False) -> list[str]:
    """Small multiples, one panel per layer of the first network, one line per instance."""
    network = _networks(table)[0]
    table = table[table.network == network]
    layers, order = _layers(table), _untrained(table)
    fig, axes = _panels(len(layers), 3.6, 3.0, columns=4)
    for ax, layer in zip(axes, layers):
        for weights, group in table[table.layer == layer].groupby("weights", sort=False):
            ax.plot(group[x], group[y], label=weights, markersize=3,
                    **instance_style(weights, order))
        if log_x:
            ax.set_xscale("log")
        else:
            ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_title(_short(layer), fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{network}: {title}")
    fig.tight_layout()
    return save(fig, folder, name)


def dimension_scale(scale: pd.DataFrame, folder: Path) -> list[str]:
    """Scale analysis: ID vs points per block, one panel per layer (first network)."""
    return _per_layer_lines(scale, "n_points", "id_mean", xlabel="points per block",
                            ylabel="ID", title="scale analysis (a plateau marks the relevant "
                            "scale)", name="dimension_scale", folder=folder, log_x=True)


def _metric_lines(ax, summary: pd.DataFrame, metric: str, layers: list[str], ylabel: str):
    table = summary[summary.metric == metric]
    order = _untrained(summary)
    for weights, group in table.groupby("weights", sort=False):
        group = group.sort_values("layer_index")
        ax.errorbar(_x(group, layers), group["median"], yerr=group["se"], label=weights,
                    capsize=2, markersize=4, **instance_style(weights, order))
    _layer_axis(ax, layers)
    ax.set_ylabel(ylabel)


def information_decomposition(summary: pd.DataFrame, folder: Path) -> list[str]:
    """Left: mean I(R;S) split into I(R;L) (solid) and I(R;S'|L) (hatched) per layer,
    trained vs untrained (mean over seeds). Right: median f_high_L +- SE."""
    networks = _networks(summary)
    fig, axes = plt.subplots(len(networks), 2, figsize=(13, 4.2 * len(networks)),
                             squeeze=False)
    for row, network in enumerate(networks):
        table = summary[summary.network == network]
        layers = _layers(table)
        x = np.arange(len(layers))
        ax = axes[row, 0]
        roles = [(r, c) for r, c in (("trained", TRAINED), ("untrained", UNTRAINED[0]),
                                      ("brain", BRAIN)) if (table.role == r).any()]
        width = 0.8 / len(roles)
        for k, (role, colour) in enumerate(roles):
            offset = (k - (len(roles) - 1) / 2) * width
            part = table[table.role == role]
            means = part.pivot_table(index="layer", columns="metric", values="mean")
            means = means.reindex(layers)
            low, high = means["I_L"].to_numpy(), means["I_S_given_L"].to_numpy()
            ax.bar(x + offset, low, width, color=colour, label=f"{role}: I(R;L)")
            ax.bar(x + offset, high, width, bottom=low, color="white", edgecolor=colour,
                   hatch="//", label=f"{role}: I(R;S'|L)")
        _layer_axis(ax, layers)
        ax.set_ylabel("information (bits, mean over units)")
        ax.set_title(f"{network}: I(R;S) = I(R;L) + I(R;S'|L)")
        ax.legend(fontsize=7, ncol=2)
        _metric_lines(axes[row, 1], table, "f_high_L", layers, "f_high (luminance)")
        axes[row, 1].set_title(f"{network}: luminance-independent fraction f_high (median)")
        axes[row, 1].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, folder, "information_decomposition")


LOW_MID = {"I_C": "RF contrast", "f_high_C": "f_high (contrast)",
           "I_position_deg": "position", "I_size_deg": "size",
           "I_inplane_deg": "in-plane rotation", "I_indepth_deg": "in-depth rotation",
           "I_orientation": "RF orientation energy"}


def low_mid_information(summary: pd.DataFrame, folder: Path) -> list[str]:
    """Median information (bits) about contrast and mid-level variables per layer."""
    network = _networks(summary)[0]
    table = summary[summary.network == network]
    layers = _layers(table)
    metrics = [m for m in LOW_MID if m in set(table.metric)]
    fig, axes = _panels(len(metrics), 4.6, 3.4, columns=4)
    for ax, metric in zip(axes, metrics):
        unit = "" if metric.startswith("f_high") else " (bits)"
        _metric_lines(ax, table, metric, layers, f"median {LOW_MID[metric]}{unit}")
        ax.set_title(LOW_MID[metric])
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{network}: contrast and mid-level information per unit (median +- SE)")
    fig.tight_layout()
    return save(fig, folder, "low_mid_information")


def invariance(sweep: pd.DataFrame, folder: Path) -> list[str]:
    """Median view-invariant object information vs the luminosity-ratio threshold."""
    return _per_layer_lines(sweep, "threshold", "median", xlabel="luminosity-ratio threshold",
                            ylabel="I(R;O) invariant (bits)", title="view-invariant object "
                            "information (median over units)", name="invariance",
                            folder=folder)


def decoding(single: pd.DataFrame | None, population: pd.DataFrame | None,
             folder: Path) -> list[str]:
    """Single units: median decoded information per layer; populations: percent correct of
    the largest population; both protocols, chance dashed."""
    panels = []
    if single is not None and len(single):
        for protocol in ("separability", "generalisation"):
            panels.append(("single", protocol))
    if population is not None and len(population):
        for protocol in ("separability", "generalisation"):
            panels.append(("population", protocol))
    source = single if single is not None and len(single) else population
    network = _networks(source)[0]
    fig, axes = _panels(len(panels), 5.0, 3.6, columns=2)
    for ax, (level, protocol) in zip(axes, panels):
        if level == "single":
            table = single[(single.network == network) & (single.protocol == protocol)]
            value, chance, label = "information", "chance_information", "median bits (pairs)"
        else:
            table = population[(population.network == network)
                               & (population.protocol == protocol)]
            largest = table.groupby("weights")["n_units"].transform("max")
            table = table[table.n_units == largest]
            value, chance = "percent_correct", "chance_percent_correct"
            label = f"% correct, {int(table.n_units.max())} units"
        order = _untrained(table)
        for weights, group in table.groupby("weights", sort=False):
            group = group.sort_values("layer_index")
            style = instance_style(weights, order)
            layers = _layers(table)
            ax.plot(_x(group, layers), group[value], label=weights, **style)
            ax.plot(_x(group, layers), group[chance], color=style["color"], linestyle=":",
                    linewidth=1)
        _layer_axis(ax, _layers(table))
        ax.set_ylabel(label)
        ax.set_title(f"{level} {protocol}", fontsize=10)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{network}: invariant object decoding (dotted: shuffled-label chance)")
    fig.tight_layout()
    return save(fig, folder, "decoding")


def coupling_plot(couplings: pd.DataFrame, folder: Path) -> list[str]:
    """ID change vs I(R;L) change (trained - untrained), one point per layer."""
    networks = _networks(couplings)
    fig, axes = _panels(len(networks), 5.2, 4.2)
    for ax, network in zip(axes, networks):
        table = couplings[couplings.network == network]
        ax.scatter(table["id_change"], table["I_L_change"], color=TRAINED, zorder=3)
        for _, row in table.iterrows():
            ax.annotate(_short(row.layer), (row.id_change, row.I_L_change), fontsize=8,
                        xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.axvline(0, color="grey", linewidth=0.6)
        ax.set_xlabel("ID change (trained - untrained)")
        ax.set_ylabel("I(R;L) change (bits, median)")
        r, p = table["r"].iloc[0], table["p"].iloc[0]
        ax.set_title(f"{network}: r = {r:.2f}, permutation p = {p:.3g}")
    return save(fig, folder, "coupling")


BRAIN_METRICS = {"id": "intrinsic dimension", "I_L": "median I(R;L) (bits)",
                 "I_S_given_L": "median I(R;S'|L) (bits)",
                 "f_high_L": "median f_high (luminance)",
                 "I_invariant": "median invariant I(R;O) (bits)"}


def brain_vs_network(table: pd.DataFrame, folder: Path) -> list[str]:
    """Layers and areas on a shared relative-depth axis (input/pixels at 0, last stage at 1):
    ID, the information decomposition I(R;L) and I(R;S'|L), f_high and invariant
    information."""
    metrics = [m for m in BRAIN_METRICS if m in set(table.metric)]
    fig, axes = _panels(len(metrics), 4.2, 3.4, columns=5)
    for ax, metric in zip(axes, metrics):
        part = table[table.metric == metric]
        for source, group in part.groupby("source", sort=False):
            group = group.sort_values("relative_depth")
            kind = group["kind"].iloc[0]
            colour = {"trained": TRAINED, "untrained": UNTRAINED[0]}.get(kind, BRAIN)
            ax.errorbar(group["relative_depth"], group["value"], yerr=group["se"],
                        color=colour, marker="o" if kind != "untrained" else "s",
                        linestyle="-" if kind != "untrained" else "--", capsize=2,
                        markersize=4, label=source)
            if kind == "brain":
                for _, row in group.iterrows():
                    ax.annotate(row.stage, (row.relative_depth, row.value), fontsize=7,
                                color=BRAIN, xytext=(2, 4), textcoords="offset points")
        ax.set_xlabel("relative depth (input 0, last stage 1)")
        ax.set_ylabel(BRAIN_METRICS[metric])
    axes[0].legend(fontsize=7)
    fig.suptitle("Brain vs network: areas (green) and layers on a shared depth axis")
    fig.tight_layout()
    return save(fig, folder, "brain_vs_network")


def similarity(table: pd.DataFrame, folder: Path) -> list[str]:
    """Layer x area similarity of the first trained network (or first network) with the
    first dataset: linear CKA and RSA."""
    trained = table[table.role == "trained"]
    part = trained if len(trained) else table
    network, weights, dataset = part.iloc[0][["network", "weights", "dataset"]]
    part = part[(part.network == network) & (part.weights == weights)
                & (part.dataset == dataset)]
    layers = part.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
    areas = part.drop_duplicates("area").sort_values("area_index")["area"].tolist()
    fig, axes = plt.subplots(1, 2, figsize=(4 + 0.9 * len(areas) * 2, 0.45 * len(layers) + 2))
    for ax, measure in zip(axes, ("cka", "rsa")):
        grid = part.pivot(index="layer", columns="area", values=measure).reindex(
            index=layers, columns=areas)
        image = ax.imshow(grid.to_numpy(), cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(areas)))
        ax.set_xticklabels(areas)
        ax.set_yticks(range(len(layers)))
        ax.set_yticklabels([_short(layer) for layer in layers])
        ax.set_xlabel(f"area ({dataset})")
        ax.set_ylabel(f"layer ({network} {weights})")
        ax.set_title("linear CKA" if measure == "cka" else "RSA (Spearman)")
        fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    return save(fig, folder, "similarity")
