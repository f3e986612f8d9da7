"""Writing and reading stimulus Datasets (zarr) and a montage for checking them by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .._io import atomic_path, refuse_foreign


def save_stimuli(stimuli: xr.Dataset, path) -> Path:
    """Write ``stimuli`` to a zarr store at ``path``, atomically (a failed write leaves
    nothing at ``path``; an existing store is replaced only once the new one is complete)."""
    path = Path(path)
    refuse_foreign(path, "deg_per_pixel", "a stimulus store")
    with atomic_path(path) as tmp:
        stimuli.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
    return path


def load_stimuli(path) -> xr.Dataset:
    """Read a store written by :func:`save_stimuli` into memory."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no stimulus store at {path}; create one with "
                                "`prunedistill stimuli --out DIR`.")
    with xr.open_zarr(path, consolidated=True) as stored:
        loaded = stored.load()
    # Variable-length strings come back as numpy's StringDType; fixed-width unicode is what
    # the rest of the code (and older numpy) handles everywhere.
    text = {name: (coord.dims, np.array(coord.values.tolist(), dtype=str))
            for name, coord in loaded.coords.items() if coord.dtype.kind in "OT"}
    return loaded.assign_coords(text) if text else loaded


def montage(stimuli: xr.Dataset, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """One image ``(rows * (h + gap), columns * (w + gap))`` in 0..1 with thin grey gaps
    (with a trailing RGB axis for colour sets).

    When the stimuli form a full objects x views grid, rows are objects and columns views;
    otherwise the stimuli fill ``columns`` per row (default: about square).
    """
    images = stimuli["images"].values
    if images.ndim == 4:  # colour (stimulus, channel, y, x) -> (stimulus, y, x, channel)
        images = np.moveaxis(images, 1, -1)
    n, height, width = images.shape[:3]
    rows_of = columns_of = None
    if "object_index" in stimuli.coords and "view" in stimuli.coords:
        _, rows_of = np.unique(stimuli["object_index"].values, return_inverse=True)
        _, columns_of = np.unique(stimuli["view"].values, return_inverse=True)
        if (rows_of.max() + 1) * (columns_of.max() + 1) != n:  # not a full objects x views grid
            rows_of = None
    if rows_of is None:
        columns = columns or int(np.ceil(np.sqrt(n)))
        rows_of, columns_of = np.divmod(np.arange(n), columns)
    canvas = np.full(((rows_of.max() + 1) * (height + gap) - gap,
                      (columns_of.max() + 1) * (width + gap) - gap, *images.shape[3:]), 0.3,
                     dtype=np.float32)
    for image, r, c in zip(images, rows_of, columns_of):
        top, left = r * (height + gap), c * (width + gap)
        canvas[top:top + height, left:left + width] = image
    return canvas


def save_montage(stimuli: xr.Dataset, path, **kwargs) -> Path:
    """Write :func:`montage` as an 8-bit gray or RGB PNG (atomically)."""
    from PIL import Image

    path = Path(path)
    pixels = np.round(np.clip(montage(stimuli, **kwargs), 0, 1) * 255).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    return path
