"""The report page: one self-contained HTML file next to its figures and tables."""

from __future__ import annotations

import html
import json

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } .yes { background: #d9f0d3; font-weight: bold; }
.files { font-size: 0.85em; color: #555; } pre { background: #f7f7f7; padding: 1em;
       overflow-x: auto; font-size: 0.8em; }
"""


def _figure(name: str, caption: str) -> str:
    return (f'<figure><a href="figures/{name}.svg"><img src="figures/{name}.png" '
            f'alt="{html.escape(caption)}"></a><figcaption>{html.escape(caption)} '
            f'(<a href="figures/{name}.svg">SVG</a>)</figcaption></figure>')


def _tables_line(names: list[str]) -> str:
    links = ", ".join(f'{n} (<a href="tables/{n}.csv">CSV</a>, '
                      f'<a href="tables/{n}.parquet">Parquet</a>)' for n in names)
    return f'<p class="files">Tables: {links}</p>'


def _verdict_table(verdicts: pd.DataFrame) -> str:
    if verdicts.empty:
        return "<p>No network has both trained and untrained weights: no verdicts.</p>"
    shown = verdicts.copy()
    for column in shown.columns:
        if shown[column].dtype == float:
            shown[column] = shown[column].map(lambda v: f"{v:.3g}")
    for column in ("pruning", "distillation"):
        shown[column] = shown[column].map(lambda v: '<span class="yes">yes</span>' if v
                                          else "no")
    return shown.to_html(index=False, escape=False, border=0)


def render(*, title: str, sections: list[tuple[str, str]]) -> str:
    body = "\n".join(f'<h2 id="s{i}">{html.escape(head)}</h2>\n{content}'
                     for i, (head, content) in enumerate(sections, 1))
    toc = "".join(f'<li><a href="#s{i}">{html.escape(head)}</a></li>'
                  for i, (head, _) in enumerate(sections, 1))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<ol>{toc}</ol>{body}</body></html>\n")


def report_page(title: str, figures: dict[str, bool], tables: dict[str, pd.DataFrame],
                metadata: dict, *, montage: bool = True) -> str:
    """The page; ``figures`` says which figures were drawn."""
    sections = []
    if montage:
        sections.append(("Stimuli", '<img src="figures/montage.png" alt="stimulus montage">'
                         "<p>Objects in rows, views in columns.</p>"))
    if figures.get("dimension_profile"):
        phases = tables.get("dimension_phases", pd.DataFrame())
        found = "none" if phases.empty else "; ".join(
            f"{r.weights}: {r.start} &rarr; {r.peak} &rarr; {r.end}" for r in phases.itertuples())
        content = (_figure("dimension_profile", "Intrinsic dimension vs layer, mean +- std "
                           "over random 90 % subsets")
                   + f"<p>Expansion-contraction phases found: {found}</p>"
                   + _tables_line(["dimension", "dimension_resamples", "dimension_steps",
                                   "dimension_phases"]))
        sections.append(("Intrinsic dimension", content))
    if figures.get("dimension_scale"):
        sections.append(("Scale analysis", _figure(
            "dimension_scale", "TwoNN ID vs number of points per block")
            + _tables_line(["dimension_scale"])))
    if figures.get("information_decomposition"):
        sections.append(("Luminance and luminance-independent information", _figure(
            "information_decomposition", "I(R;S) split into I(R;L) and I(R;S'|L); f_high")
            + _tables_line(["information_summary", "information_units"])))
    if figures.get("low_mid_information"):
        sections.append(("Contrast and mid-level information", _figure(
            "low_mid_information", "Median information about contrast and mid-level "
            "variables")))
    if figures.get("invariance"):
        sections.append(("View-invariant object information", _figure(
            "invariance", "Invariant information vs luminosity-ratio threshold")
            + _tables_line(["invariance_summary", "invariance_units"])))
    if figures.get("decoding"):
        sections.append(("Invariant object decoding", _figure(
            "decoding", "Single-unit and population decoding of object pairs")
            + _tables_line(["decoding_single_summary", "decoding_single_units",
                            "decoding_population"])))
    if "verdicts" in tables:
        verdict_html = _verdict_table(tables["verdicts"])
        if figures.get("coupling"):
            verdict_html += _figure("coupling", "ID change vs low-level information change")
        sections.append(("Pruning and distillation", verdict_html
                         + "<p>Pruning: median I(R;L) and I(R;C) both lower in the trained "
                         "network; distillation: f_high and invariant information both higher "
                         "(one-sided Mann-Whitney, Holm over layers).</p>"
                         + _tables_line(["verdicts", "comparison", "coupling"])))
    if figures.get("brain_vs_network"):
        content = _figure("brain_vs_network", "Areas and layers on a shared relative-depth "
                          "axis") + ("<p>ID is compared at equal numbers of points only when "
                                     "the network IDs use the recorded stimuli "
                                     "(<code>dimension.points: stimuli</code>); with the "
                                     "training-stream points, compare the shapes of the "
                                     "profiles, not their values.</p>")
        if figures.get("similarity"):
            content += _figure("similarity", "Layer-to-area similarity: linear CKA and RSA")
        synthetic = tables.get("neural_datasets", pd.DataFrame())
        if len(synthetic) and synthetic["synthetic"].any():
            content = ("<p><b>Synthetic data:</b> at least one neural dataset was made by the "
                       "prunedistill simulator.</p>" + content)
        sections.append(("Brain vs network", content + _tables_line(
            ["brain_vs_network", "similarity", "neural_dimension", "neural_information_units",
             "neural_information_summary", "neural_decoding_population"])))
    sections.append(("Run metadata", "<pre>" + html.escape(json.dumps(
        metadata, indent=1, default=str)) + "</pre>"))
    return render(title=title, sections=sections)
