"""The report page: one self-contained HTML file next to its figures and tables.

Sections come in a fixed order, headline first; each holds the registered figures of its
section (:data:`prunedistill.report.figures.FIGURES`) and links to the tables behind them.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd

from .figures import FIGURES, short_name, skipped_figures
from .headline import headline, negative_note

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 1.5em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
h3 { margin-bottom: 0.2em; }
img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.6em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td.name { text-align: left; }
.yes { background: #d9f0d3; font-weight: bold; } .no { color: #777; }
.files, .note { font-size: 0.85em; color: #555; }
details { margin: 0.5em 0; } summary { cursor: pointer; font-weight: bold; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
figcaption { font-size: 0.9em; color: #444; }
"""

SECTIONS = (
    ("dimension", "Intrinsic dimension"),
    ("information", "Luminance, contrast and mid-level information"),
    ("invariance", "View-invariant object information"),
    ("decoding", "Invariant object decoding"),
    ("verdicts", "Pruning and distillation"),
    ("brain", "Brain vs network"),
)
SECTION_TABLES = {
    "dimension": ["dimension", "dimension_resamples", "dimension_scale", "dimension_steps",
                  "dimension_phases"],
    "information": ["information_summary", "information_units"],
    "invariance": ["invariance_summary", "invariance_units"],
    "decoding": ["decoding_single_summary", "decoding_single_units", "decoding_population"],
    "verdicts": ["verdicts", "comparison", "network_level", "coupling", "without_twins"],
    "brain": ["brain_vs_network", "similarity", "neural_datasets", "neural_dimension",
              "neural_dimension_phases", "neural_information_units",
              "neural_information_summary", "neural_decoding_population"],
}
VERDICT_GROUPS = (("pruning", (("I_L", "I(R;L)"), ("I_C", "I(R;C)"))),
                  ("distillation", (("I_invariant", "I(R;O) inv."),
                                    ("I_generalisation", "I gen."), ("f_high_L", "f_high"))))


def _figure(name: str, caption: str) -> str:
    return (f'<figure><a href="figures/{name}.svg"><img src="figures/{name}.png" '
            f'alt="{html.escape(caption)}"></a><figcaption>{html.escape(caption)} '
            f'(<a href="figures/{name}.svg">SVG</a>)</figcaption></figure>')


def _tables_line(names: list[str], tables: dict) -> str:
    present = [n for n in names if n in tables]
    if not present:
        return ""
    links = ", ".join(f'{n} (<a href="tables/{n}.csv">CSV</a>, '
                      f'<a href="tables/{n}.parquet">Parquet</a>)' for n in present)
    return f'<p class="files">Tables: {links}</p>'


def _number(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else f"{value:.3g}"


def verdict_table(verdicts: pd.DataFrame) -> str:
    """The verdicts with two header rows: each verdict, the differences (trained minus
    untrained medians) and Holm p-values of the metrics behind it."""
    if verdicts.empty:
        return "<p>No network has both trained and untrained weights: no verdicts.</p>"
    head1 = '<tr><th rowspan="2">network</th><th rowspan="2">layer</th>'
    head2 = "<tr>"
    for verdict, metrics in VERDICT_GROUPS:
        head1 += f'<th colspan="{2 * len(metrics) + 1}">{verdict}</th>'
        head2 += "<th>verdict</th>" + "".join(f"<th>&Delta; {label}</th><th>p (Holm)</th>"
                                              for _, label in metrics)
    rows = []
    for r in verdicts.to_dict("records"):
        cells = (f'<td class="name">{html.escape(str(r["network"]))}</td>'
                 f'<td class="name">{html.escape(short_name(str(r["layer"])))}</td>')
        for verdict, metrics in VERDICT_GROUPS:
            cells += ('<td class="yes">yes</td>' if r[verdict] else '<td class="no">no</td>')
            cells += "".join(f"<td>{_number(r.get(f'{m}_difference'))}</td>"
                             f"<td>{_number(r.get(f'{m}_p_holm'))}"
                             f"{'' if r.get(f'{m}_counted', True) else ' (not counted)'}</td>"
                             for m, _ in metrics)
        rows.append(f"<tr>{cells}</tr>")
    return (f"<table>{head1}</tr>{head2}</tr>{''.join(rows)}</table>"
            "<p class='note'>&Delta;: median of the trained network minus median of the "
            "pooled untrained seeds (bits; f_high is a fraction). Pruning: I(R;L) and I(R;C) "
            "both significantly lower; distillation: every independent piece of evidence "
            "significantly higher, at least two of them (invariant object information, "
            "single-unit generalisation decoding information, and f_high where units have "
            "trials; for deterministic units f_high is a function of I(R;L), shown but not "
            "counted). One-sided Mann-Whitney, Holm over layers.</p>")


NETWORK_METRICS = (("I_L", "I(R;L)"), ("I_C", "I(R;C)"), ("I_invariant", "I(R;O) inv."),
                   ("I_generalisation", "I gen."))


def _per_instance(row) -> str:
    """Each trained instance's median minus the mean of the untrained instances' medians."""
    values = [float(v) - row["mean_untrained"] for v in str(row["trained_medians"]).split(";")]
    return " / ".join(f"{v:+.3g}" for v in values)


def network_level_table(network: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    """Each effect per trained instance, and the network-level verdicts (instances as
    samples); with one trained instance, says that n = 1."""
    if network.empty:
        return ""
    rows, single = [], []
    for (name, layer), at in network.groupby(["network", "layer"], sort=False):
        at = at.set_index("metric")
        verdict = verdicts[(verdicts.network == name) & (verdicts.layer == layer)]
        cells = (f'<td class="name">{html.escape(str(name))}</td>'
                 f'<td class="name">{html.escape(short_name(str(layer)))}</td>')
        for metric, _ in NETWORK_METRICS:
            if metric not in at.index:
                cells += "<td></td><td></td>"
                continue
            cells += (f"<td>{_per_instance(at.loc[metric])}</td>"
                      f"<td>{_number(at.loc[metric, 'p_holm'])}</td>")
        for kind in ("pruning", "distillation"):
            value = verdict[f"{kind}_network"].iloc[0] if len(verdict) and \
                f"{kind}_network" in verdict else np.nan
            cells += ('<td class="no">n/a</td>' if pd.isna(value) else
                      '<td class="yes">yes</td>' if bool(value) else '<td class="no">no</td>')
        rows.append(f"<tr>{cells}</tr>")
        if at["n_trained_instances"].max() < 2 and name not in single:
            single.append(name)
    head = ("<tr><th>network</th><th>layer</th>" + "".join(
        f"<th>&Delta; {label} per trained instance</th><th>p (Welch, Holm)</th>"
        for _, label in NETWORK_METRICS) + "<th>pruning</th><th>distillation</th></tr>")
    note = ("<p class='note'>Network level: each instance's median over its units is one "
            "sample; &Delta; per trained instance is its median minus the mean of the "
            "untrained instances' medians; p: one-sided Welch t-test of trained vs untrained "
            "instance medians, Holm over layers (the exact permutation p of the instance "
            "labels, whose floor is 1/20 for 3 vs 3, is in the table network_level). "
            "Verdicts by the unit-level rules.</p>")
    if single:
        note += (f"<p><b>n = 1:</b> {html.escape(', '.join(map(str, single)))} "
                 f"{'has' if len(single) == 1 else 'have'} a single trained instance; its "
                 "effects are not replicated across trained networks and have no "
                 "network-level test.</p>")
    return (f"<h3>Network-level replication</h3><table>{head}{''.join(rows)}</table>{note}")


def twins_note(missing: pd.DataFrame) -> str:
    """Networks without trained or untrained instances: their verdicts are impossible."""
    if missing is None or missing.empty:
        return ""
    why = {"untrained": "untrained_seeds is empty", "trained": "trained is null"}
    items = "".join(f"<li><b>{html.escape(str(r.network))}</b>: no {r.missing} instance "
                    f"({why[r.missing]})</li>" for r in missing.itertuples())
    return ("<p>Pruning and distillation compare trained with untrained instances of the "
            "same architecture; they are impossible for:</p><ul>" + items + "</ul>"
            "<p class='note'>Their ID profiles, information and decoding are reported "
            "above.</p>")


def _flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows = []
        for key, inner in value.items():
            rows += _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        rows = []
        for i, inner in enumerate(value):
            rows += _flatten(inner, f"{prefix}[{i}]")
        return rows
    return [(prefix, value if isinstance(value, str) else json.dumps(value, default=str))]


def metadata_section(metadata: dict) -> str:
    """Run metadata collapsed by topic, each topic a two-column table."""
    parts = []
    for topic, value in metadata.items():
        rows = "".join(f'<tr><td class="name">{html.escape(k)}</td>'
                       f'<td class="name">{html.escape(str(v))}</td></tr>'
                       for k, v in _flatten(value, ""))
        if isinstance(value, (dict, list)):
            parts.append(f"<details><summary>{html.escape(str(topic))}</summary>"
                         f"<table>{rows}</table></details>")
        else:
            parts.append(f"<p><b>{html.escape(str(topic))}</b>: "
                         f"{html.escape(str(value))}</p>")
    return "".join(parts) + '<p class="files">All of it: <a href="metadata.json">' \
                            'metadata.json</a></p>'


def _points_note(metadata: dict, tables: dict) -> str:
    """Which images the ID of each layer was measured on (the profile depends on them)."""
    dimension = metadata.get("config", {}).get("dimension", {})
    points = tables["dimension"]["n_points"].max() if "n_points" in tables["dimension"] \
        else None
    if (tables["dimension"]["weights"] == "recorded").all():
        constructions = set(tables["dimension"].get("construction", pd.Series(dtype=str)))
        where = ("single trials of the recorded stimuli (stimuli x trials; fewer than 20 "
                 "stimuli)" if "single_trials" in constructions
                 else "the recorded stimuli, one point per stimulus")
    elif dimension.get("points") == "training":
        where = (f"{dimension.get('n_points')} held-out renders of the training stream "
                 "(random views of the embedded CNN's 50 training objects)")
    elif dimension.get("points") == "stimuli":
        where = "the study's stimuli"
    else:
        where = (f"every image in the folder {html.escape(str(dimension.get('points')))}, "
                 "resized and centre-cropped to each network's input (luma for gray "
                 "networks)")
    counted = f", {int(points)} points after dropping duplicates" if points else ""
    return (f"<p class='note'>Points of the ID: {where}{counted}. The ID profile depends on "
            "the image set; compare profiles measured on the same points.</p>")


def _inputs_note(metadata: dict) -> str:
    """What each network was shown: size, resize, colour, normalisation and their source."""
    lines = {}
    for network in metadata.get("networks", []):
        description = network.get("description", {})
        shown, prep = description.get("input"), description.get("preprocessing")
        if not shown or not prep or network["network"] in lines:
            continue
        resize = shown.get("resize_size")
        fitted = f" (natural images: shorter side to {resize}, centre crop)" if resize else ""
        lines[network["network"]] = (
            f"<li><b>{html.escape(network['network'])}</b>: {shown['size']} px{fitted}, "
            f"{html.escape(shown.get('colour', ''))}; normalised with mean "
            f"{[round(v, 3) for v in prep['mean']]}, std {[round(v, 3) for v in prep['std']]} "
            f"({html.escape(prep.get('source', ''))})</li>")
    if not lines:
        return ""
    return "<p>What each network was shown:</p><ul>" + "".join(lines.values()) + "</ul>"


def render(*, title: str, sections: list[tuple[str, str]]) -> str:
    body = "\n".join(f'<h2 id="s{i}">{html.escape(head)}</h2>\n{content}'
                     for i, (head, content) in enumerate(sections, 1))
    toc = "".join(f'<li><a href="#s{i}">{html.escape(head)}</a></li>'
                  for i, (head, _) in enumerate(sections, 1))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<ol>{toc}</ol>{body}</body></html>\n")


def report_page(title: str, drawn: set[str], tables: dict[str, pd.DataFrame],
                metadata: dict, *, montage_caption: str | None) -> str:
    """The page; ``drawn`` names the figures that were drawn."""
    alpha = metadata.get("config", {}).get("comparison", {}).get("alpha")
    sections = [("Findings", headline(tables, alpha=alpha))]
    if montage_caption:
        sections.append(("Stimuli", _figure("montage", montage_caption)
                         + _inputs_note(metadata)))
    skipped = skipped_figures(tables)
    for key, head in SECTIONS:
        content = "".join(_figure(f.name, f.caption) for f in FIGURES
                          if f.section == key and f.name in drawn)
        reasons = dict.fromkeys(skipped[f.name] for f in FIGURES
                                if f.section == key and f.name in skipped)
        content += "".join(f"<p class='note'>{html.escape(r)}.</p>" for r in reasons)
        if key == "dimension" and "dimension" in tables:
            content += _points_note(metadata, tables)
        if key == "information" and content:
            content += negative_note(tables)
        if key == "verdicts" and "verdicts" in tables:
            content = (verdict_table(tables["verdicts"]) + network_level_table(
                tables.get("network_level", pd.DataFrame()), tables["verdicts"]) + content)
        if key == "verdicts":
            content = twins_note(tables.get("without_twins")) + content
        if key == "brain" and content:
            content = ("<p>ID is compared at equal numbers of points only when the network "
                       "IDs use the recorded stimuli (<code>dimension.points: stimuli</code>); "
                       "with the training-stream points, compare the shapes of the profiles, "
                       "not their values.</p>") + content
            recorded = tables.get("neural_datasets", pd.DataFrame())
            if len(recorded) and recorded["synthetic"].any():
                content = ("<p><b>Synthetic data:</b> at least one neural dataset was made "
                           "by the prunedistill simulator.</p>") + content
        if content:
            sections.append((head, content + _tables_line(SECTION_TABLES[key], tables)))
    sections.append(("Run metadata", metadata_section(metadata)))
    return render(title=title, sections=sections)
