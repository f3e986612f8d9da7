"""Image properties of stimuli, globally and inside receptive fields.

Global (per stimulus): luminance, RMS contrast, object centroid and area, plus the
transformation parameters. Per stimulus and RF map (any non-negative 2D weight map on the
image grid): RF luminance and RF contrast (docs/science.md, section 4) and orientation energy from a
small quadrature Gabor bank. All functions are vectorised over stimuli and RF maps.

Shapes: ``images (stimuli, y, x)`` in 0..1, or colour ``(stimuli, 3, y, x)`` whose luma is
used (:mod:`prunedistill.stimuli.pixels`); ``rf_maps (units, y, x)``; results
``(units, stimuli)``; degrees of visual angle come from ``deg_per_pixel``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_finite
from ..distances import device_matmul, distinct_rows, to_device
from .pixels import luma

TRANSFORMATION_COORDS = ("object", "view", "transformation", "position_deg", "elevation_deg",
                         "size_deg", "inplane_deg", "indepth_deg", "luminance")


def _as_images(images) -> np.ndarray:
    array = np.asarray(luma(getattr(images, "values", images)), dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ValueError(f"images must have shape (stimuli, y, x) or (stimuli, 3, y, x); "
                         f"got {array.shape}.")
    check_finite(array, "images")
    return array


def _as_rf_maps(rf_maps, image_shape: tuple[int, int]) -> np.ndarray:
    """Validate RF maps ``(units, y, x)`` against the image grid; returned as given (no copy
    of float32 maps), normalised block by block in :func:`_normalised_blocks`."""
    maps = np.asarray(getattr(rf_maps, "values", rf_maps))
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[1:] != image_shape:
        raise ValueError(
            f"rf_maps must have shape (units, {image_shape[0]}, {image_shape[1]}) to match the "
            f"images; got {maps.shape}. Resample the RF maps onto the image grid first."
        )
    check_finite(maps, "rf_maps")
    flat = maps.reshape(len(maps), -1)
    if flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float64)
    if flat.min(initial=0.0) < 0:
        raise ValueError("rf_maps must be non-negative weights (e.g. a fitted Gaussian).")
    peaks = flat.max(axis=1)
    if (peaks <= 0).any():
        raise ValueError(f"rf_maps {np.flatnonzero(peaks <= 0).tolist()} are all zero.")
    return flat


# Units per block of the RF sums: the float64 copy of a block's maps stays near this size.
_RF_BLOCK_BYTES = 128 * 2**20


def _normalised_blocks(maps: np.ndarray, rows: np.ndarray):
    """``(positions slice into rows, weights (block, y * x) float64, weights' row sums
    (block, 1))`` over blocks of the maps ``maps[rows]`` (``maps (units, y * x)``), each
    normalised to peak 1."""
    block = max(1, _RF_BLOCK_BYTES // (8 * maps.shape[1]))
    for start in range(0, len(rows), block):
        units = slice(start, min(start + block, len(rows)))
        weights = maps[rows[units]].astype(np.float64)
        weights /= weights.max(axis=1)[:, None]
        yield units, weights, weights.sum(axis=1, keepdims=True)


def image_properties(stimuli, deg_per_pixel: float | None = None,
                     threshold: float = 0.0) -> pd.DataFrame:
    """One row per stimulus: global luminance (mean pixel value), contrast (RMS: std of pixel
    values), object area (deg^2, pixels brighter than ``threshold``), object centroid
    (``centroid_x_deg`` azimuth, ``centroid_y_deg`` elevation; the mean position of those
    pixels, relative to the image centre), and, for a stimulus Dataset, its transformation
    coordinates.
    """
    images = _as_images(stimuli["images"] if hasattr(stimuli, "data_vars") else stimuli)
    if deg_per_pixel is None:
        deg_per_pixel = stimuli.attrs["deg_per_pixel"] if hasattr(stimuli, "attrs") else 1.0
    n, height, width = images.shape
    flat = images.reshape(n, -1)
    mask = images > threshold
    counts = mask.sum(axis=(1, 2))
    rows = (np.arange(height) + 0.5 - height / 2) * deg_per_pixel
    columns = (np.arange(width) + 0.5 - width / 2) * deg_per_pixel
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid_x = (mask.sum(axis=1) @ columns) / counts
        centroid_y = -(mask.sum(axis=2) @ rows) / counts  # row 0 is the top
    table = pd.DataFrame({
        "luminance_global": flat.mean(axis=1),
        "contrast_global": flat.std(axis=1),
        "area_deg2": counts * deg_per_pixel ** 2,
        "centroid_x_deg": centroid_x,
        "centroid_y_deg": centroid_y,
    })
    if hasattr(stimuli, "coords"):
        for name in TRANSFORMATION_COORDS:
            if name in stimuli.coords:
                table[name] = stimuli[name].values
    return table


def rf_luminance(images, rf_maps) -> np.ndarray:
    """RF luminance ``(units, stimuli)``: the image weighted by the RF map (normalised to peak
    1), divided by what a full-field maximal-brightness image (all ones) gives."""
    return rf_statistics(images, rf_maps, ("luminance",))["luminance"]


def rf_contrast(images, rf_maps) -> np.ndarray:
    """RF contrast ``(units, stimuli)``: the RF-weighted standard deviation of the image
    luminance, sqrt(sum w (I - L)^2 / sum w) with L the RF-weighted mean."""
    return rf_statistics(images, rf_maps, ("contrast",))["contrast"]


RF_STATISTICS = ("luminance", "contrast", "orientation_energy", "orientation_deg")


def rf_statistics(images, rf_maps, which=RF_STATISTICS, *, deg_per_pixel: float | None = None,
                  wavelength_deg: float = 10.0, orientations_deg=(0.0, 45.0, 90.0, 135.0),
                  energy=None, device="cpu") -> dict[str, np.ndarray]:
    """The RF statistics in ``which``, each ``(units, stimuli)``, from one pass over the RF
    maps (validated once, normalised to peak 1 in blocks of units, so no float64 copy of
    every map is held): ``luminance`` (:func:`rf_luminance`), ``contrast``
    (:func:`rf_contrast`), and ``orientation_energy`` / ``orientation_deg``
    (:func:`rf_orientation_energy`; give ``deg_per_pixel`` or the precomputed ``energy``
    maps ``(stimuli, orientations, y, x)``). Each value is the same float64 dot product the
    separate functions compute, once per distinct map (units with equal maps get equal
    values); ``device`` (a torch device other than ``"cpu"``) computes
    the products there, in float64 (equal to the CPU's to rounding)."""
    unknown = set(which) - set(RF_STATISTICS)
    if unknown:
        raise ValueError(f"unknown RF statistics {sorted(unknown)}; choose from {RF_STATISTICS}.")
    images = _as_images(images)
    maps = _as_rf_maps(rf_maps, images.shape[1:])
    n = len(images)
    flat_t = to_device(images.reshape(n, -1).T, device)
    need_mean = "luminance" in which or "contrast" in which
    square_t = (to_device((images.reshape(n, -1) ** 2).T, device) if "contrast" in which
                else None)
    orientation = "orientation_energy" in which or "orientation_deg" in which
    if orientation:
        if energy is None:
            if deg_per_pixel is None:
                raise ValueError("orientation energy needs deg_per_pixel or the energy maps.")
            energy = orientation_energy(images, deg_per_pixel, wavelength_deg, orientations_deg)
        n_orientations = energy.shape[1]
        energy_t = to_device(np.asarray(energy, dtype=np.float64).reshape(n * n_orientations,
                                                                          -1).T, device)
        angles = np.asarray(orientations_deg, dtype=np.float64)
    # Units with the same map (every unit whose RF was not localised has the full field)
    # get their statistics once.
    first, inverse = distinct_rows(maps)
    out = {name: np.empty((len(first), n)) for name in which}
    for units, weights, total in _normalised_blocks(maps, first):
        block = to_device(weights, device)
        if need_mean:
            mean = device_matmul(block, flat_t, device) / total
            if "luminance" in which:
                out["luminance"][units] = mean
        if square_t is not None:
            mean_square = device_matmul(block, square_t, device) / total
            out["contrast"][units] = np.sqrt(np.clip(mean_square - mean ** 2, 0.0, None))
        if orientation:
            per_rf = device_matmul(block, energy_t, device).reshape(len(weights), n,
                                                                    n_orientations)
            per_rf /= total[:, :, None]
            if "orientation_energy" in which:
                out["orientation_energy"][units] = per_rf.max(axis=2)
            if "orientation_deg" in which:
                out["orientation_deg"][units] = angles[per_rf.argmax(axis=2)]
    return {name: values[inverse] for name, values in out.items()}


def gabor_bank(deg_per_pixel: float, wavelength_deg: float = 10.0,
               orientations_deg=(0.0, 45.0, 90.0, 135.0), sigma_wavelengths: float = 0.5
               ) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature Gabor pairs: even and odd kernels ``(orientations, k, k)``, zero mean.

    ``orientations_deg``: orientation of the stripes, counterclockwise from vertical (0 =
    vertical stripes, 90 = horizontal); the Gaussian envelope has sigma =
    ``sigma_wavelengths`` wavelengths.
    """
    wavelength = wavelength_deg / deg_per_pixel
    sigma = sigma_wavelengths * wavelength
    half = int(np.ceil(3 * sigma))
    y, x = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    envelope = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
    even, odd = [], []
    for angle in np.radians(np.asarray(orientations_deg, dtype=np.float64)):
        # Phase advances across the stripes: along the stripe normal.
        across = x * np.cos(angle) - y * np.sin(angle)
        e = envelope * np.cos(2 * np.pi * across / wavelength)
        o = envelope * np.sin(2 * np.pi * across / wavelength)
        e -= envelope * e.sum() / envelope.sum()  # zero mean: no response to uniform light
        even.append(e / np.abs(e).sum())
        odd.append(o / np.abs(o).sum())
    return np.stack(even), np.stack(odd)


def orientation_energy(images, deg_per_pixel: float, wavelength_deg: float = 10.0,
                       orientations_deg=(0.0, 45.0, 90.0, 135.0)) -> np.ndarray:
    """Local orientation energy maps ``(stimuli, orientations, y, x)`` float32: even^2 + odd^2
    of the Gabor responses (FFT convolution, zero padding), one orientation at a time."""
    images = _as_images(images)
    even, odd = gabor_bank(deg_per_pixel, wavelength_deg, orientations_deg)
    n, height, width = images.shape
    k = even.shape[-1]
    shape = (height + k - 1, width + k - 1)
    spectrum = np.fft.rfft2(images, s=shape)
    start = k // 2
    crop = (slice(None), slice(start, start + height), slice(start, start + width))
    energy = np.empty((n, len(even), height, width), dtype=np.float32)
    for o in range(len(even)):
        response_even = np.fft.irfft2(spectrum * np.fft.rfft2(even[o], s=shape), s=shape)[crop]
        response_odd = np.fft.irfft2(spectrum * np.fft.rfft2(odd[o], s=shape), s=shape)[crop]
        energy[:, o] = response_even ** 2 + response_odd ** 2
    return energy


def rf_orientation_energy(images, rf_maps, deg_per_pixel: float, wavelength_deg: float = 10.0,
                          orientations_deg=(0.0, 45.0, 90.0, 135.0), *, energy=None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Dominant orientation energy in each RF: ``(energy (units, stimuli), orientation_deg
    (units, stimuli))``, the RF-weighted mean energy of the strongest orientation and that
    orientation. ``energy``: precomputed :func:`orientation_energy` maps of ``images`` (pass
    them when analysing many layers of one stimulus set)."""
    stats = rf_statistics(images, rf_maps, ("orientation_energy", "orientation_deg"),
                          deg_per_pixel=deg_per_pixel, wavelength_deg=wavelength_deg,
                          orientations_deg=orientations_deg, energy=energy)
    return stats["orientation_energy"], stats["orientation_deg"]
