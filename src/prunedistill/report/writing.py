"""Writing a report folder: tables (CSV + Parquet), figures (PNG + SVG), metadata.json and
report.html, built beside the target and renamed into place."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .._io import atomic_path
from .._validation import PrunedistillError
from .figures import draw_figures, stimulus_montage
from .html import report_page

REPORT_MARKER = ".prunedistill-report"  # a folder holding it is a report this project wrote


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """Every table as CSV and Parquet (``folder/NAME.csv``, ``folder/NAME.parquet``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False, float_format="%.10g")
        table.to_parquet(folder / f"{name}.parquet", index=False)


def is_ours(folder: Path) -> bool:
    """Whether ``folder`` may be replaced: absent, empty, or a report written here."""
    folder = Path(folder)
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    return (folder / REPORT_MARKER).exists() or not any(folder.iterdir())


def write_report(tables: dict[str, pd.DataFrame], folder, *, montage=None, title: str,
                 metadata: dict, stimulus_set: str | None = None) -> Path:
    """Tables, figures, metadata and the page, written to ``folder``; returns the page.

    ``montage``: the panels of :func:`prunedistill.stimuli.montage.montage_panels`, or None.
    An existing ``folder`` is replaced only when it is empty or a report this project wrote
    (it holds the marker file); anything else is refused, never deleted.
    """
    folder = Path(folder)
    if not is_ours(folder):
        raise PrunedistillError(f"{folder} exists and is not a prunedistill report; move it "
                                "away or name a new folder for the report.")
    with atomic_path(folder, folder=True) as tmp:
        write_tables(tables, tmp / "tables")
        figures = tmp / "figures"
        figures.mkdir()
        caption = None
        if montage:
            stimulus_montage(montage, figures)
            caption = "; ".join(p.title for p in montage).capitalize()
            if stimulus_set:
                caption = f"Stimulus set '{stimulus_set}': {caption}"
        drawn = set(draw_figures(tables, figures))
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=1, default=str))
        (tmp / "report.html").write_text(report_page(title, drawn, tables, metadata,
                                                     montage_caption=caption))
        (tmp / REPORT_MARKER).write_text("")
    return folder / "report.html"
