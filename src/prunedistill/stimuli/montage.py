"""Labelled montage panels of a stimulus set, for the report's first figure.

A panel is a grid of cells, each an image with a label (or empty); rows have labels too.
The tafazoli set gives two panels: every object at the default view, then the 38 views of
the first object, one row per transformation axis. Other sets (a user's folder) give a grid
of their first stimuli, each labelled ``object / view``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .sets import GENERALISATION_TRAIN_POSITION_DEG

AXES = (("position", "position_deg", "{:+g}°"), ("size", "size_deg", "{:g}°"),
        ("inplane", "inplane_deg", "{:+g}°"), ("indepth", "indepth_deg", "{:+g}°"),
        ("luminance", "luminance", "{:.1%}"))
AXIS_NAMES = {"position": "position", "size": "size", "inplane": "in-plane rotation",
              "indepth": "in-depth rotation", "luminance": "luminance"}
FOLDER_CELLS = 40


@dataclass(frozen=True)
class MontagePanel:
    """``cells[row][column]``: ``(image (H, W) or (H, W, 3) in 0..1, label)`` or None."""

    title: str
    row_labels: tuple[str, ...]
    cells: tuple[tuple, ...]


def _image(stimuli: xr.Dataset, index: int) -> np.ndarray:
    image = stimuli["images"].values[index]
    return np.moveaxis(image, 0, -1) if image.ndim == 3 else image


def _tafazoli_panels(stimuli: xr.Dataset) -> list[MontagePanel]:
    transformation = stimuli["transformation"].values
    position = stimuli["position_deg"].values
    objects = list(dict.fromkeys(stimuli["object"].values.astype(str)))
    default = np.flatnonzero((transformation == "position")
                             & np.isclose(position, GENERALISATION_TRAIN_POSITION_DEG))
    first = [(_image(stimuli, i), str(stimuli["object"].values[i])) for i in default]
    panels = [MontagePanel(f"the {len(objects)} objects at the default view "
                           f"({GENERALISATION_TRAIN_POSITION_DEG:+g}° azimuth)", ("",),
                           (tuple(first),))]
    mine = stimuli["object"].values.astype(str) == objects[0]
    rows, labels = [], []
    for axis, coord, form in AXES:
        chosen = np.flatnonzero(mine & (transformation == axis))
        if not len(chosen):
            continue
        cells = []
        for i in chosen:
            label = form.format(float(stimuli[coord].values[i]))
            if axis != "position":
                label += f" at {position[i]:+g}°"
            cells.append((_image(stimuli, i), label))
        rows.append(tuple(cells))
        labels.append(AXIS_NAMES[axis])
    panels.append(MontagePanel(f"the {int(mine.sum())} views of {objects[0]}, one row per "
                               "transformation", tuple(labels), tuple(rows)))
    return panels


def montage_panels(stimuli: xr.Dataset, columns: int = 8) -> list[MontagePanel]:
    """The panels that show ``stimuli`` at a glance (see the module docstring)."""
    if "transformation" in stimuli.coords and (stimuli["transformation"].values
                                               == "position").any():
        return _tafazoli_panels(stimuli)
    n = min(stimuli.sizes["stimulus"], FOLDER_CELLS)
    labelled = [(_image(stimuli, i), f"{stimuli['object'].values[i]} / "
                 f"{stimuli['view'].values[i]}") for i in range(n)]
    rows = tuple(tuple(labelled[start:start + columns]) for start in range(0, n, columns))
    shown = "all" if n == stimuli.sizes["stimulus"] else f"the first {n} of"
    return [MontagePanel(f"{shown} {stimuli.sizes['stimulus']} stimuli (object / view)",
                         ("",) * len(rows), rows)]
