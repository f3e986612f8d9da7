"""Receptive-field mapping stimuli: white bars drifting over a grid of cells (docs/science.md,
section 4).

The rat protocol: 10-deg bars at 4 orientations, drifting over a 6 x 11 grid of 10-deg cells.
A network sees still frames, so each drift is sampled as ``phases`` frames in which the bar's
centre steps across its cell, perpendicular to the bar; a unit's response to a (cell,
orientation) is the mean over its frames. Bars are drawn analytically (exact area coverage
estimated on a ``supersample`` x ``supersample`` sub-pixel grid), not by the mesh renderer.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .render import Camera


def bar_image(camera: Camera, centre_deg: tuple[float, float], orientation_deg: float,
              length_deg: float, width_deg: float) -> np.ndarray:
    """One white bar on black: float32 ``(size, size)``, pixel values = area covered.

    ``centre_deg`` is (azimuth, elevation); ``orientation_deg`` the bar's long axis,
    counterclockwise from horizontal.
    """
    s = camera.supersample
    n = camera.size * s
    offsets = (np.arange(n) + 0.5) * (camera.field_deg / n) - camera.field_deg / 2
    azimuth, elevation = np.meshgrid(offsets, -offsets)
    dx, dy = azimuth - centre_deg[0], elevation - centre_deg[1]
    angle = np.radians(orientation_deg)
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    inside = (np.abs(along) <= length_deg / 2) & (np.abs(across) <= width_deg / 2)
    return inside.reshape(camera.size, s, camera.size, s).mean(axis=(1, 3), dtype=np.float32)


def bars(size: int = 128, *, field_deg: float = 120.0, grid_rows: int = 6, grid_columns: int = 11,
         cell_deg: float = 10.0, length_deg: float = 10.0, width_deg: float = 2.0,
         orientations_deg=(0.0, 45.0, 90.0, 135.0), phases: int = 5,
         supersample: int = 4) -> xr.Dataset:
    """All bar frames: ``images[stimulus, y, x]`` with coords ``cell_row``, ``cell_column``,
    ``cell_azimuth_deg``, ``cell_elevation_deg`` (cell centre), ``orientation_deg``,
    ``phase`` and ``bar_x_deg``, ``bar_y_deg`` (bar centre). The grid is centred on the
    image; stimuli are ordered row, column, orientation, phase.
    """
    camera = Camera(size=size, field_deg=field_deg, supersample=supersample)
    if grid_columns * cell_deg > field_deg or grid_rows * cell_deg > field_deg:
        raise ValueError(
            f"a {grid_rows} x {grid_columns} grid of {cell_deg}-deg cells does not fit a "
            f"{field_deg}-deg field; enlarge field_deg or shrink the grid.")
    if phases < 1:
        raise ValueError(f"phases must be >= 1; got {phases}.")
    column_centres = (np.arange(grid_columns) - (grid_columns - 1) / 2) * cell_deg
    row_centres = ((grid_rows - 1) / 2 - np.arange(grid_rows)) * cell_deg  # row 0 on top
    steps = ((np.arange(phases) + 0.5) / phases - 0.5) * cell_deg
    records, images = [], []
    for row, elevation in enumerate(row_centres):
        for column, azimuth in enumerate(column_centres):
            for orientation in orientations_deg:
                normal = np.radians(orientation + 90.0)
                for phase, step in enumerate(steps):
                    centre = (azimuth + step * np.cos(normal), elevation + step * np.sin(normal))
                    images.append(bar_image(camera, centre, orientation, length_deg, width_deg))
                    records.append((row, column, azimuth, elevation, orientation, phase, *centre))
    table = np.array(records, dtype=np.float64)
    names = ("cell_row", "cell_column", "cell_azimuth_deg", "cell_elevation_deg",
             "orientation_deg", "phase", "bar_x_deg", "bar_y_deg")
    coords = {name: ("stimulus", table[:, i]) for i, name in enumerate(names)}
    for name in ("cell_row", "cell_column", "phase"):
        coords[name] = ("stimulus", table[:, names.index(name)].astype(np.int64))
    azimuth, elevation = camera.pixel_centres_deg()
    coords["x"], coords["y"] = ("x", azimuth), ("y", elevation)
    return xr.Dataset(
        {"images": (("stimulus", "y", "x"), np.stack(images))},
        coords=coords,
        attrs={"set": "bars", "deg_per_pixel": camera.deg_per_pixel, "field_deg": field_deg,
               "image_size": size, "grid_rows": grid_rows, "grid_columns": grid_columns,
               "cell_deg": cell_deg, "length_deg": length_deg, "width_deg": width_deg,
               "phases": phases},
    )
