"""The report's figures, each drawn from result tables only and saved as PNG and SVG.

:data:`FIGURES` is the one registry: each :class:`Figure` names the tables it needs, its
draw function, its section and caption. The page, the writer and the tests all read it.
A draw function shows every network (and dataset) in its tables and returns the rows it
plotted, so a test can check that nothing was left out.

Colours are fixed across figures: the trained network in blue, untrained seeds in shades of
orange (one per seed), recorded areas in green; layers are on the x axis in execution order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TRAINED = "#1f4e9c"
TRAINED_SHADES = [TRAINED, "#4f86d6", "#0b2a5e", "#8fb3e8", "#2c6bbf"]
BRAIN = "#238b45"
UNTRAINED = ["#e6550d", "#fd8d3c", "#a63603", "#fdae6b", "#7f2704"]
EXPANSION = "#c7e9c0"
CONTRACTION = "#fcbba1"
EMPTY_NOTE = "#777777"


def instance_style(weights: str, order: list[str]) -> dict:
    """Line style of one instance: trained instances in shades of blue, untrained seeds in
    shades of orange, each by its place in ``order`` (:func:`_instance_order`)."""
    if weights == "recorded":
        return {"color": BRAIN, "marker": "D", "linestyle": "-", "linewidth": 2, "zorder": 3}
    untrained = weights.startswith("untrained")
    same_role = [w for w in order if w.startswith("untrained") == untrained]
    i = same_role.index(weights) if weights in same_role else 0
    if not untrained:
        return {"color": TRAINED_SHADES[i % len(TRAINED_SHADES)], "marker": "o",
                "linestyle": "-", "linewidth": 2, "zorder": 3}
    return {"color": UNTRAINED[i % len(UNTRAINED)], "marker": "s", "linestyle": "--",
            "linewidth": 1.3, "zorder": 2}


def _instance_order(table: pd.DataFrame) -> list[str]:
    """Trained instances in table order, then the untrained seeds sorted."""
    weights = list(table["weights"].unique())
    return [w for w in weights if not w.startswith("untrained")] + \
        sorted(w for w in weights if w.startswith("untrained"))


def _layers(table: pd.DataFrame) -> list[str]:
    return table.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()


def _networks(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["network"]))


def _x(group: pd.DataFrame, layers: list[str]) -> np.ndarray:
    """Positions on the layer axis (the order of ``layers``)."""
    return group["layer"].map({layer: i for i, layer in enumerate(layers)}).to_numpy()


def short_name(layer: str) -> str:
    """Axis label: the last name component, with its parent when it is an index
    (``features.pool3`` -> ``pool3``, ``layer1.0`` stays ``layer1.0``)."""
    parts = layer.split(".")
    return ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]


def _layer_axis(ax, layers: list[str]) -> None:
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([short_name(layer) for layer in layers], rotation=45, ha="right")
    ax.set_xlabel("layer")


def _empty(ax, reason: str) -> None:
    """A panel with no data: its reason in one line, no axes."""
    ax.text(0.5, 0.5, reason, ha="center", va="center", fontsize=8, color=EMPTY_NOTE,
            wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def save(fig, folder: Path, name: str) -> None:
    """``name.png`` and ``name.svg`` in ``folder``, the same bytes for the same figure."""
    # One tight box for both files: bbox_inches="tight" would lay the figure out twice more.
    fig.draw_without_rendering()
    box = fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    fig.savefig(folder / f"{name}.png", dpi=110, bbox_inches=box)
    # Without a salt, matplotlib draws the SVG's element ids from uuid4: new bytes each run.
    with matplotlib.rc_context({"svg.hashsalt": name}):
        fig.savefig(folder / f"{name}.svg", bbox_inches=box, metadata={"Date": None})
    plt.close(fig)


def _grid(rows: int, columns: int, width: float, height: float):
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows),
                             squeeze=False)
    return fig, axes


def _panels(n: int, width: float, height: float, columns: int):
    columns = max(1, min(n, columns))
    rows = int(np.ceil(n / columns))
    fig, axes = _grid(rows, columns, width, height)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


# -- the figures -------------------------------------------------------------------------

def dimension_profile(tables: dict, folder: Path) -> pd.DataFrame:
    """ID (TwoNN, mean +- std over random subsets) vs layer per network; the trained
    network's significant expansion (green) and contraction (red) phases shaded."""
    dimension = tables["dimension"]
    phases = tables.get("dimension_phases")
    networks = _networks(dimension)
    fig, axes = _panels(len(networks), 6.5, 4.2, 2)
    for ax, network in zip(axes, networks):
        table = dimension[dimension.network == network]
        layers, order = _layers(table), _instance_order(table)
        for weights, group in table.groupby("weights", sort=False):
            group = group.sort_values("layer_index")
            ax.errorbar(_x(group, layers), group["id_mean"], yerr=group["id_std"],
                        label=weights, capsize=3, **instance_style(weights, order))
        shaded = [w for w in table["weights"].unique() if not w.startswith("untrained")]
        if phases is not None and len(phases) and shaded:
            for phase in phases[(phases.network == network)
                                & (phases.weights == shaded[0])].itertuples():
                ax.axvspan(phase.start_index, phase.peak_index, color=EXPANSION, zorder=0)
                ax.axvspan(phase.peak_index, phase.end_index, color=CONTRACTION, zorder=0)
        _layer_axis(ax, layers)
        ax.set_ylabel("intrinsic dimension (TwoNN)")
        ax.set_title(f"{network}", fontsize=11)
        ax.legend(fontsize=8)
    fig.suptitle("ID profile (shaded: significant expansion / contraction phases)",
                 fontsize=11)
    fig.tight_layout()
    save(fig, folder, "dimension_profile")
    return dimension


def _log_ticks(ax, values: np.ndarray) -> None:
    """At most four readable ticks on a log axis, at values the data has."""
    values = np.unique(values[np.isfinite(values)])
    if not len(values):
        return
    if len(values) > 4:
        values = values[np.unique(np.round(np.linspace(0, len(values) - 1, 4)).astype(int))]
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values], fontsize=7)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _network_by_layer(table: pd.DataFrame, x: str, y: str, *, xlabel: str, ylabel: str,
                      title: str, name: str, folder: Path, log_x: bool = False) -> pd.DataFrame:
    """One row of panels per network, one panel per layer, one line per instance."""
    networks = _networks(table)
    widest = max(len(_layers(table[table.network == n])) for n in networks)
    columns = min(widest, 6)
    rows_per_network = [int(np.ceil(len(_layers(table[table.network == n])) / columns))
                        for n in networks]
    fig, axes = _grid(sum(rows_per_network), columns, 2.9, 2.5)
    row = 0
    for network, n_rows in zip(networks, rows_per_network):
        part = table[table.network == network]
        layers, order = _layers(part), _instance_order(part)
        cells = axes[row:row + n_rows].ravel()
        for ax in cells[len(layers):]:
            ax.set_visible(False)
        for ax, layer in zip(cells, layers):
            for weights, group in part[part.layer == layer].groupby("weights", sort=False):
                ax.plot(group[x], group[y], label=weights, markersize=3,
                        **instance_style(weights, order))
            if log_x:
                ax.set_xscale("log")
                _log_ticks(ax, part[x].to_numpy(dtype=float))
            else:
                ax.axhline(0, color="grey", linewidth=0.6)
            ax.set_title(f"{network}: {short_name(layer)}", fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
        cells[0].legend(fontsize=6)
        row += n_rows
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save(fig, folder, name)
    return table


def dimension_scale(tables: dict, folder: Path) -> pd.DataFrame:
    """Scale analysis: ID vs points per block, one panel per layer of every network."""
    return _network_by_layer(tables["dimension_scale"], "n_points", "id_mean",
                             xlabel="points per block", ylabel="ID",
                             title="Scale analysis (a plateau marks the relevant scale)",
                             name="dimension_scale", folder=folder, log_x=True)


def _metric_lines(ax, summary: pd.DataFrame, metric: str, layers: list[str], ylabel: str
                  ) -> pd.DataFrame:
    table = summary[summary.metric == metric]
    order = _instance_order(summary)
    for weights, group in table.groupby("weights", sort=False):
        group = group.sort_values("layer_index")
        ax.errorbar(_x(group, layers), group["median"], yerr=group["se"], label=weights,
                    capsize=2, markersize=4, **instance_style(weights, order))
    ax.axhline(0, color="grey", linewidth=0.6)
    _layer_axis(ax, layers)
    ax.set_ylabel(ylabel)
    return table


def information_decomposition(tables: dict, folder: Path) -> pd.DataFrame:
    """Left: mean I(R;S) split into I(R;L) (solid) and I(R;S'|L) (hatched) per layer, per
    role (untrained: mean over seeds). Right: median f_high_L +- SE per instance."""
    summary = tables["information_summary"]
    networks = _networks(summary)
    fig, axes = _grid(len(networks), 2, 6.5, 4.2)
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
            means = table[table.role == role].pivot_table(
                index="layer", columns="metric", values="mean").reindex(layers)
            low, high = means["I_L"].to_numpy(), means["I_S_given_L"].to_numpy()
            ax.bar(x + offset, low, width, color=colour, label=f"{role}: I(R;L)")
            ax.bar(x + offset, high, width, bottom=low, color="white", edgecolor=colour,
                   hatch="//", label=f"{role}: I(R;S'|L)")
        _layer_axis(ax, layers)
        ax.set_ylabel("information (bits, mean over units)")
        ax.set_title(f"{network}: I(R;S) = I(R;L) + I(R;S'|L)", fontsize=10)
        ax.legend(fontsize=7, ncol=2)
        _metric_lines(axes[row, 1], table, "f_high_L", layers, "f_high (luminance)")
        axes[row, 1].set_title(f"{network}: luminance-independent fraction f_high (median)",
                               fontsize=10)
        axes[row, 1].legend(fontsize=7)
    fig.tight_layout()
    save(fig, folder, "information_decomposition")
    return summary[summary.metric.isin(["I_L", "I_S_given_L", "f_high_L"])]


LOW_MID = {"I_C": "RF contrast", "f_high_C": "f_high (contrast)",
           "I_position_deg": "position", "I_size_deg": "size",
           "I_inplane_deg": "in-plane rotation", "I_indepth_deg": "in-depth rotation",
           "I_orientation": "RF orientation energy"}


def low_mid_information(tables: dict, folder: Path) -> pd.DataFrame:
    """Median information (bits) about contrast and mid-level variables per layer, one row
    of panels per network; a variable the stimulus set does not vary gets a one-line note."""
    summary = tables["information_summary"]
    networks = _networks(summary)
    metrics = list(LOW_MID)
    columns = 4
    per_network = int(np.ceil(len(metrics) / columns))
    fig, axes = _grid(len(networks) * per_network, columns, 3.3, 2.8)
    for row, network in enumerate(networks):
        table = summary[summary.network == network]
        layers = _layers(table)
        cells = axes[row * per_network:(row + 1) * per_network].ravel()
        for ax in cells[len(metrics):]:
            ax.set_visible(False)
        for ax, metric in zip(cells, metrics):
            values = table.loc[table.metric == metric, "median"].to_numpy(dtype=float)
            if not np.isfinite(values).any():
                _empty(ax, f"{LOW_MID[metric]}: not varied\nby this stimulus set")
            else:
                unit = "" if metric.startswith("f_high") else " (bits)"
                _metric_lines(ax, table, metric, layers, f"median{unit}")
                ax.tick_params(labelsize=7)
            ax.set_title(f"{network}: {LOW_MID[metric]}", fontsize=9)
        handles = [ax for ax in cells if ax.get_legend_handles_labels()[0]]
        if handles:
            handles[0].legend(fontsize=6)
    fig.suptitle("Contrast and mid-level information per unit (median +- SE)", fontsize=11)
    fig.tight_layout()
    save(fig, folder, "low_mid_information")
    return summary[summary.metric.isin(metrics)]


def invariance(tables: dict, folder: Path) -> pd.DataFrame:
    """Median view-invariant object information vs the luminosity-ratio threshold."""
    return _network_by_layer(tables["invariance_summary"], "threshold", "median",
                             xlabel="luminosity-ratio threshold",
                             ylabel="invariant I(R;O) (bits)",
                             title="View-invariant object information (median over units)",
                             name="invariance", folder=folder)


def decoding(tables: dict, folder: Path) -> pd.DataFrame:
    """Per network: single units (median decoded information per layer) and populations
    (percent correct of the largest population), both protocols, chance dotted."""
    single = tables.get("decoding_single_summary")
    population = tables.get("decoding_population")
    sources = [t for t in (single, population) if t is not None and len(t)]
    networks = list(dict.fromkeys(n for t in sources for n in t["network"]))
    panels = [("single", p) for p in ("separability", "generalisation")] + \
        [("population", p) for p in ("separability", "generalisation")]
    fig, axes = _grid(len(networks), len(panels), 3.4, 2.9)
    drawn = []
    for row, network in enumerate(networks):
        for ax, (level, protocol) in zip(axes[row], panels):
            source = single if level == "single" else population
            if source is None or not (source.network == network).any():
                _empty(ax, f"no {level} decoding for {network}")
                ax.set_title(f"{network}: {level} {protocol}", fontsize=9)
                continue
            table = source[(source.network == network) & (source.protocol == protocol)]
            if table.empty:
                _empty(ax, f"no {protocol}: " + ("the stimuli have no views" if protocol
                                                 == "generalisation" else "no data"))
                ax.set_title(f"{network}: {level} {protocol}", fontsize=9)
                continue
            if level == "single":
                value, chance, label = "information", "chance_information", \
                    "median bits (pairs)"
            else:
                largest = table.groupby("weights")["n_units"].transform("max")
                table = table[table.n_units == largest]
                value, chance = "percent_correct", "chance_percent_correct"
                label = f"% correct, {int(table.n_units.max())} units"
            layers, order = _layers(table), _instance_order(table)
            for weights, group in table.groupby("weights", sort=False):
                group = group.sort_values("layer_index")
                style = instance_style(weights, order)
                ax.plot(_x(group, layers), group[value], label=weights, **style)
                ax.plot(_x(group, layers), group[chance], color=style["color"],
                        linestyle=":", linewidth=1)
            _layer_axis(ax, layers)
            ax.tick_params(labelsize=7)
            ax.set_ylabel(label, fontsize=8)
            ax.set_title(f"{network}: {level} {protocol}", fontsize=9)
            drawn.append(table.assign(level=level))
        labelled = [ax for ax in axes[row] if ax.get_legend_handles_labels()[0]]
        if labelled:
            labelled[0].legend(fontsize=6)
    fig.suptitle("Invariant object decoding (dotted: shuffled-label chance)", fontsize=11)
    fig.tight_layout()
    save(fig, folder, "decoding")
    return pd.concat(drawn, ignore_index=True)


def _place_labels(ax, x: np.ndarray, y: np.ndarray, labels: list[str]) -> None:
    """Point labels that do not overlap: each takes the first of eight offsets around its
    point whose box (estimated in display points) misses the labels already placed."""
    offsets = [(4, 4), (4, -10), (-4, 4), (-4, -10), (0, 10), (0, -14), (8, 0), (-8, 0)]
    to_display = ax.transData.transform
    placed = []
    for xi, yi, text in sorted(zip(x, y, labels), key=lambda t: (t[0], t[1])):
        px, py = to_display((xi, yi))
        width, height = 5.5 * len(text), 9.0
        for dx, dy in offsets:
            left = px + dx * 1.4 - (width if dx < 0 else 0)
            bottom = py + dy * 1.4
            box = (left, bottom, left + width, bottom + height)
            if all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]
                   for b in placed):
                break
        placed.append(box)
        ax.annotate(text, (xi, yi), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                    ha="right" if dx < 0 else "left")


def coupling_plot(tables: dict, folder: Path) -> pd.DataFrame:
    """ID change vs I(R;L) change (trained - untrained), one point per layer."""
    couplings = tables["coupling"]
    networks = _networks(couplings)
    fig, axes = _panels(len(networks), 5.2, 4.2, 3)
    for ax, network in zip(axes, networks):
        table = couplings[couplings.network == network]
        ax.scatter(table["id_change"], table["I_L_change"], color=TRAINED, zorder=3)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.axvline(0, color="grey", linewidth=0.6)
        ax.margins(0.2)
        fig.canvas.draw()  # the transforms the label placement measures with
        _place_labels(ax, table["id_change"].to_numpy(), table["I_L_change"].to_numpy(),
                      [short_name(layer) for layer in table["layer"]])
        ax.set_xlabel("ID change (trained - untrained)")
        ax.set_ylabel("I(R;L) change (bits, median)")
        r, p = table["r"].iloc[0], table["p"].iloc[0]
        ax.set_title(f"{network}: r = {r:.2f}, permutation p = {p:.3g}", fontsize=10)
    fig.tight_layout()
    save(fig, folder, "coupling")
    return couplings


BRAIN_METRICS = {"id": "intrinsic dimension", "I_L": "median I(R;L) (bits)",
                 "I_S_given_L": "median I(R;S'|L) (bits)",
                 "f_high_L": "median f_high (luminance)",
                 "I_invariant": "median invariant I(R;O) (bits)"}


def brain_vs_network(tables: dict, folder: Path) -> pd.DataFrame:
    """Layers and areas on a shared relative-depth axis (input/pixels at 0, last stage at 1):
    ID, the information decomposition, f_high and invariant information."""
    table = tables["brain_vs_network"]
    metrics = [m for m in BRAIN_METRICS if m in set(table.metric)]
    fig, axes = _panels(len(metrics), 4.2, 3.4, 3)
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
                for row in group.itertuples():
                    ax.annotate(row.stage, (row.relative_depth, row.value), fontsize=7,
                                color=BRAIN, xytext=(2, 4), textcoords="offset points")
        ax.set_xlabel("relative depth (input 0, last stage 1)")
        ax.set_ylabel(BRAIN_METRICS[metric])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle("Brain vs network: areas (green) and layers on a shared depth axis")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
               frameon=False)
    save(fig, folder, "brain_vs_network")
    table = table.copy()
    table["network"] = table["source"].str.rsplit(" ", n=1).str[0].where(
        table["kind"] != "brain", table["source"])
    return table


def similarity(tables: dict, folder: Path) -> pd.DataFrame:
    """Layer x area similarity (linear CKA, RSA) of each network with each dataset: the
    trained instance where there is one, else the first."""
    table = tables["similarity"]
    pairs, chosen = [], []
    for (network, dataset), part in table.groupby(["network", "dataset"], sort=False):
        trained = part[part.role == "trained"]
        part = trained if len(trained) else part
        weights = part["weights"].iloc[0]
        pairs.append((network, weights, dataset, part[part.weights == weights]))
    fig, axes = _grid(len(pairs), 2, 4.6, 0.32 * max(len(_layers(p[3])) for p in pairs) + 2)
    for row, (network, weights, dataset, part) in enumerate(pairs):
        layers = _layers(part)
        areas = part.drop_duplicates("area").sort_values("area_index")["area"].tolist()
        for ax, measure in zip(axes[row], ("cka", "rsa")):
            grid = part.pivot(index="layer", columns="area", values=measure).reindex(
                index=layers, columns=areas)
            image = ax.imshow(grid.to_numpy(), cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(areas)))
            ax.set_xticklabels(areas)
            ax.set_yticks(range(len(layers)))
            ax.set_yticklabels([short_name(layer) for layer in layers], fontsize=7)
            ax.set_xlabel(f"area ({dataset})")
            ax.set_ylabel(f"{network} {weights}")
            ax.set_title("linear CKA" if measure == "cka" else "RSA (Spearman)", fontsize=10)
            fig.colorbar(image, ax=ax, fraction=0.05)
        chosen.append(part)
    fig.tight_layout()
    save(fig, folder, "similarity")
    return pd.concat(chosen, ignore_index=True)


def stimulus_montage(panels, folder: Path) -> None:
    """The labelled montage panels of :func:`prunedistill.stimuli.montage.montage_panels`
    stacked in one figure (``montage.png``)."""
    heights = [len(p.cells) for p in panels]
    columns = max(len(row) for p in panels for row in p.cells)
    fig = plt.figure(figsize=(1.25 * columns + 1.2, 1.45 * sum(heights) + 0.5 * len(panels)))
    grid = fig.add_gridspec(len(panels), 1, height_ratios=heights)
    for k, panel in enumerate(panels):
        sub = grid[k].subgridspec(len(panel.cells), columns, hspace=0.45, wspace=0.08)
        for r, row in enumerate(panel.cells):
            for c in range(columns):
                ax = fig.add_subplot(sub[r, c])
                ax.set_xticks([])
                ax.set_yticks([])
                if c < len(row) and row[c] is not None:
                    image, label = row[c]
                    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
                    ax.set_title(label, fontsize=7, pad=2)
                else:
                    ax.axis("off")
                if c == 0 and panel.row_labels[r]:
                    ax.set_ylabel(panel.row_labels[r], fontsize=8)
                if r == 0 and c == 0:
                    ax.text(0, 1.38, panel.title, transform=ax.transAxes, fontsize=10,
                            fontweight="bold")
    save(fig, folder, "montage")


IMAGE_METRICS_REASON = ("not measured: luminance, contrast, mid-level and view-invariant "
                        "information need the stimulus images and RF maps, and these data "
                        "come with their own stimulus table (ids only)")


def _no_image_metrics(tables: dict) -> str | None:
    """The reason when no unit has an image-based term (a recording with its own stimulus
    table), else None."""
    summary = tables.get("information_summary")
    if summary is None:
        return None
    image_based = summary[summary.metric.isin(["I_L", "I_C", "I_invariant"])]
    return None if np.isfinite(image_based["median"].to_numpy(dtype=float)).any() \
        else IMAGE_METRICS_REASON


def stimulus_information(tables: dict, folder: Path) -> pd.DataFrame:
    """Median stimulus (or category) information I(R;S) per area or layer +- SE."""
    summary = tables["information_summary"]
    networks = _networks(summary)
    fig, axes = _panels(len(networks), 5.5, 3.8, 2)
    for ax, network in zip(axes, networks):
        table = summary[summary.network == network]
        _metric_lines(ax, table, "I_S", _layers(table), "median I(R;S) (bits)")
        ax.set_title(f"{network}: stimulus information per neuron", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, folder, "stimulus_information")
    return summary[summary.metric == "I_S"]


@dataclass(frozen=True)
class Figure:
    """One figure of the report: the tables it needs (all present and non-empty), the
    function that draws it, the page section it belongs to and its caption. ``when`` says
    whether it applies at all (silently); ``skip`` returns why the data cannot support it
    (then the page shows that line instead)."""

    name: str
    needs: tuple[str, ...]
    draw: Callable[[dict, Path], pd.DataFrame]
    section: str
    caption: str
    any_of: tuple[str, ...] = ()
    skip: Callable[[dict], str | None] = lambda tables: None
    when: Callable[[dict], bool] = lambda tables: True

    def available(self, tables: dict) -> bool:
        def present(name):
            return name in tables and len(tables[name]) > 0
        return all(present(n) for n in self.needs) and (
            not self.any_of or any(present(n) for n in self.any_of)) and self.when(tables)

    def drawable(self, tables: dict) -> bool:
        return self.available(tables) and self.skip(tables) is None


FIGURES = (
    Figure("dimension_profile", ("dimension",), dimension_profile, "dimension",
           "Intrinsic dimension vs layer, mean +- std over random subsets of the points",
           skip=lambda tables: None if np.isfinite(tables["dimension"]["id_mean"].to_numpy(
               dtype=float)).any() else "no ID profile: no layer or area admitted an "
               "estimate (the reasons are in the findings and the dimension table's note)"),
    Figure("dimension_scale", ("dimension_scale",), dimension_scale, "dimension",
           "TwoNN ID vs number of points per block (scale analysis)"),
    Figure("stimulus_information", ("information_summary",), stimulus_information,
           "information", "Median stimulus information I(R;S) per neuron (bias-corrected)",
           when=lambda tables: _no_image_metrics(tables) is not None),
    Figure("information_decomposition", ("information_summary",), information_decomposition,
           "information", "I(R;S) split into I(R;L) and I(R;S'|L); median f_high",
           skip=_no_image_metrics),
    Figure("low_mid_information", ("information_summary",), low_mid_information,
           "information", "Median information about contrast and mid-level variables",
           skip=_no_image_metrics),
    Figure("invariance", ("invariance_summary",), invariance, "invariance",
           "Median view-invariant object information vs luminosity-ratio threshold",
           skip=_no_image_metrics),
    Figure("decoding", (), decoding, "decoding",
           "Single-unit and population decoding of object identity across views",
           any_of=("decoding_single_summary", "decoding_population")),
    Figure("coupling", ("coupling",), coupling_plot, "verdicts",
           "ID change vs low-level information change, one point per layer"),
    Figure("brain_vs_network", ("brain_vs_network",), brain_vs_network, "brain",
           "Areas and layers on a shared relative-depth axis"),
    Figure("similarity", ("similarity",), similarity, "brain",
           "Layer-to-area similarity: linear CKA and RSA"),
)


def draw_figures(tables: dict, folder: Path) -> dict[str, pd.DataFrame]:
    """Every registered figure whose tables are present; returns each drawn figure's data."""
    return {f.name: f.draw(tables, folder) for f in FIGURES if f.drawable(tables)}


def skipped_figures(tables: dict) -> dict[str, str]:
    """The figures whose tables are present but whose data cannot support them, with why
    (one line each, for the page)."""
    reasons = {f.name: f.skip(tables) for f in FIGURES if f.available(tables)}
    return {name: reason for name, reason in reasons.items() if reason}
