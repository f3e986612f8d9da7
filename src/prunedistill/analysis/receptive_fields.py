"""Receptive fields of units: bar mapping with a 2D Gaussian fit, or input gradients.

Bar mapping follows the rat protocol (docs/science.md, section 4): each unit's responses to the
``bars`` stimuli are averaged over orientations and bar frames into a map on the cell grid,
and a 2D Gaussian (axis-aligned, with offset) is fitted to every map at once by vectorised
Levenberg-Marquardt. Fits with R^2 <= 0.5, or with the centre outside the mapped field (the
grid's cell centres extended by half a cell), are flagged, never dropped.

Both methods end in RF maps on the image grid (``(units, y, x)``, peak 1) that
``prunedistill.stimuli.properties`` turns into RF luminance, contrast and orientation energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_finite

R2_THRESHOLD = 0.5


@dataclass
class GaussianFit:
    """Per-unit fits, each ``(units,)``: centre (deg), sigmas (deg), amplitude, offset, R^2,
    and ``inside``: the centre lies within the mapped field (None: not checked). ``good`` is
    R^2 > 0.5 with the centre inside."""

    centre_x_deg: np.ndarray
    centre_y_deg: np.ndarray
    sigma_x_deg: np.ndarray
    sigma_y_deg: np.ndarray
    amplitude: np.ndarray
    offset: np.ndarray
    r2: np.ndarray
    inside: np.ndarray | None = None

    @property
    def good(self) -> np.ndarray:
        good = self.r2 > R2_THRESHOLD
        return good if self.inside is None else good & self.inside


def inside_field(x_deg, y_deg, azimuth_deg, elevation_deg) -> np.ndarray:
    """Whether points lie within the mapped field: the cell centres' range extended by half a
    cell on each side (half the smallest spacing; one cell of 1 deg for a single column)."""
    def bounds(centres):
        centres = np.unique(np.asarray(centres, dtype=np.float64))
        half = np.min(np.diff(centres)) / 2 if len(centres) > 1 else 0.5
        return centres[0] - half, centres[-1] + half

    (x_low, x_high), (y_low, y_high) = bounds(azimuth_deg), bounds(elevation_deg)
    x, y = np.asarray(x_deg), np.asarray(y_deg)
    return (x >= x_low) & (x <= x_high) & (y >= y_low) & (y <= y_high)


def bar_response_maps(responses, bars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean response per grid cell: ``(maps (units, rows, columns), cell azimuths (columns,),
    cell elevations (rows,))`` in degrees, from ``responses (units, bar stimuli)`` and the
    ``bars`` Dataset the responses were recorded to."""
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 2 or responses.shape[1] != bars.sizes["stimulus"]:
        raise ValueError(f"responses must be (units, {bars.sizes['stimulus']}) for this bar set; "
                         f"got {responses.shape}.")
    check_finite(responses, "bar responses")
    rows = bars["cell_row"].values
    columns = bars["cell_column"].values
    n_rows, n_columns = int(rows.max()) + 1, int(columns.max()) + 1
    cell = rows * n_columns + columns
    sums = np.zeros((len(responses), n_rows * n_columns))
    np.add.at(sums.T, cell, responses.T)
    counts = np.bincount(cell, minlength=n_rows * n_columns)
    maps = (sums / counts).reshape(len(responses), n_rows, n_columns)
    azimuth = np.array([bars["cell_azimuth_deg"].values[columns == c][0] for c in range(n_columns)])
    elevation = np.array([bars["cell_elevation_deg"].values[rows == r][0] for r in range(n_rows)])
    return maps, azimuth, elevation


def _gaussian(params: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model values ``(units, points)`` and Jacobian ``(units, points, 6)`` for parameters
    ``(units, 6)``: amplitude, x0, y0, log sigma_x, log sigma_y, offset."""
    a, x0, y0, lsx, lsy, b = params.T
    sx, sy = np.exp(lsx)[:, None], np.exp(lsy)[:, None]
    dx, dy = x[None] - x0[:, None], y[None] - y0[:, None]
    g = np.exp(-0.5 * ((dx / sx) ** 2 + (dy / sy) ** 2))
    value = a[:, None] * g + b[:, None]
    jac = np.stack([g, a[:, None] * g * dx / sx ** 2, a[:, None] * g * dy / sy ** 2,
                    a[:, None] * g * (dx / sx) ** 2, a[:, None] * g * (dy / sy) ** 2,
                    np.ones_like(g)], axis=-1)
    return value, jac


def _normal_terms(jac: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Newton terms ``J^T J (units, 6, 6)`` and ``J^T r (units, 6)`` from the Jacobian
    ``(units, points, 6)`` and residuals ``(units, points)``."""
    return (np.einsum("upi,upj->uij", jac, jac), np.einsum("upi,up->ui", jac, residual))


def fit_gaussian(maps, azimuth_deg, elevation_deg, *, iterations: int = 60) -> GaussianFit:
    """Fit ``a exp(-(dx^2/2sx^2 + dy^2/2sy^2)) + b`` to each map ``(units, rows, columns)``.

    Starts from the peak cell (sigma = one cell) and runs damped Gauss-Newton
    (Levenberg-Marquardt) on all units at once. R^2 = 1 - SS_res / SS_tot per unit (0 for a
    flat map); ``inside`` marks centres within the mapped field (:func:`inside_field`).
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (units, rows, columns); got {maps.shape}.")
    check_finite(maps, "response maps")
    n_units = len(maps)
    grid_x, grid_y = np.meshgrid(np.asarray(azimuth_deg, float), np.asarray(elevation_deg, float))
    x, y = grid_x.ravel(), grid_y.ravel()
    z = maps.reshape(n_units, -1)
    cell = float(np.min(np.diff(np.sort(np.unique(x))))) if len(np.unique(x)) > 1 else 1.0
    peak = z.argmax(axis=1)
    low = z.min(axis=1)
    params = np.column_stack([z.max(axis=1) - low, x[peak], y[peak],
                              np.full(n_units, np.log(cell)), np.full(n_units, np.log(cell)), low])
    damping = np.full(n_units, 1e-2)
    value, jac = _gaussian(params, x, y)
    cost = ((z - value) ** 2).sum(axis=1)
    # J^T J and J^T r change only for the units whose step was taken: recomputed for those
    # alone (einsum sums each unit's rows in the same order either way, so the fit is the
    # same to the last bit as recomputing every unit)
    jtj, jtr = _normal_terms(jac, z - value)
    log_limits = (np.log(cell / 4), np.log(4 * max(np.ptp(x), np.ptp(y), cell)))
    for _ in range(iterations):
        diagonal = np.einsum("uii->ui", jtj)
        # The floor keeps the system regular when a parameter has no effect (a flat map has
        # zero amplitude, so its centre and widths do not change the model).
        floor = 1e-9 * diagonal.max(axis=1, keepdims=True) + 1e-300
        system = jtj + np.einsum("ui,ij->uij", damping[:, None] * diagonal + floor, np.eye(6))
        step = np.linalg.solve(system, jtr[..., None])[..., 0]
        trial = params + step
        trial[:, 3:5] = np.clip(trial[:, 3:5], *log_limits)
        trial_value, trial_jac = _gaussian(trial, x, y)
        trial_cost = ((z - trial_value) ** 2).sum(axis=1)
        better = trial_cost < cost
        params[better], cost[better] = trial[better], trial_cost[better]
        if better.any():
            jtj[better], jtr[better] = _normal_terms(trial_jac[better],
                                                     z[better] - trial_value[better])
        damping = np.clip(np.where(better, damping / 3, damping * 4), 1e-12, 1e12)
    total = ((z - z.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(total > 0, 1 - cost / total, 0.0)
    return GaussianFit(centre_x_deg=params[:, 1], centre_y_deg=params[:, 2],
                       sigma_x_deg=np.exp(params[:, 3]), sigma_y_deg=np.exp(params[:, 4]),
                       amplitude=params[:, 0], offset=params[:, 5], r2=r2,
                       inside=inside_field(params[:, 1], params[:, 2], azimuth_deg,
                                           elevation_deg))


def gaussian_rf_maps(fit: GaussianFit, x_deg: np.ndarray, y_deg: np.ndarray) -> np.ndarray:
    """The fitted Gaussians (peak 1) on an image grid: ``(units, len(y_deg), len(x_deg))``
    float32;
    ``x_deg``/``y_deg`` are the pixel-centre azimuths and elevations (a stimulus Dataset's
    ``x`` and ``y``)."""
    dx = np.asarray(x_deg)[None, :] - fit.centre_x_deg[:, None]
    dy = np.asarray(y_deg)[None, :] - fit.centre_y_deg[:, None]
    gx = np.exp(-0.5 * (dx / fit.sigma_x_deg[:, None]) ** 2).astype(np.float32)
    gy = np.exp(-0.5 * (dy / fit.sigma_y_deg[:, None]) ** 2).astype(np.float32)
    return gy[:, :, None] * gx[:, None, :]


def localised_rf_maps(fit: GaussianFit, x_deg: np.ndarray, y_deg: np.ndarray) -> np.ndarray:
    """:func:`gaussian_rf_maps` where the fit is good (R^2 > 0.5, centre inside the mapped
    field) and a full-field map (all ones) where it is not: an RF that bars cannot localise
    is treated as the whole image."""
    maps = gaussian_rf_maps(fit, x_deg, y_deg)
    maps[~fit.good] = 1.0
    return maps


def gradient_rf_maps(model, layer: str, units, images, *, batch_size: int = 16,
                     memory_bytes: int = 256 * 2**20, device: str = "cpu") -> np.ndarray:
    """Effective RF maps ``(units, H, W)``, peak 1: the mean over ``images (N, H, W)`` of the
    absolute gradient of each unit's activation with respect to the input pixels (summed
    over input channels).

    One forward pass per image batch serves every unit; the backward passes of many units
    run at once (batched gradients). A unit whose gradient is zero everywhere (dead for all
    images) gets an all-zero map, which RF-based variables reject with a clear error.
    """
    import torch

    from ..activations import without_inplace

    units = np.array(units, dtype=np.int64)  # a writable copy for torch
    module = without_inplace(model.module).to(device)
    child = module.get_submodule(layer) if layer != "input" else None
    captured = {}
    handle = child.register_forward_hook(lambda _, __, out: captured.__setitem__("out", out)) \
        if child is not None else None
    images = np.asarray(images, dtype=np.float32)
    height, width = images.shape[-2:]
    sums = np.zeros((len(units), height, width))
    try:
        for start in range(0, len(images), batch_size):
            x = model.preprocessing(images[start:start + batch_size]).to(device)
            x.requires_grad_(True)
            if child is None:
                out = x
            else:
                module(x)
                out = captured["out"]
            flat = out.flatten(1)
            per_unit = x.numel() * 4
            chunk = max(1, min(len(units), memory_bytes // per_unit))
            for first in range(0, len(units), chunk):
                chosen = torch.as_tensor(units[first:first + chunk], device=device)
                selected = flat[:, chosen]  # (batch, k)
                k = selected.shape[1]
                seeds = torch.eye(k, device=device).unsqueeze(1).expand(k, len(x), k)
                (grads,) = torch.autograd.grad(selected, x, grad_outputs=seeds,
                                               is_grads_batched=True, retain_graph=True)
                sums[first:first + k] += grads.abs().sum(dim=(1, 2)).cpu().numpy()
    finally:
        if handle is not None:
            handle.remove()
    maps = sums / len(images)
    peaks = maps.reshape(len(units), -1).max(axis=1)
    return np.divide(maps, peaks[:, None, None], out=np.zeros_like(maps),
                     where=peaks[:, None, None] > 0)


# Units per block of rf_centres: the float64 copy of a block's maps stays near this size.
_CENTRE_BLOCK_BYTES = 64 * 2**20


def rf_centres(rf_maps, x_deg, y_deg) -> tuple[np.ndarray, np.ndarray]:
    """Weighted centroid ``(azimuth, elevation)`` in degrees of each map ``(units, y, x)``.

    The maps are summed in float64 in blocks of units (each unit's sums do not depend on the
    block), so a float32 layer of 2,000 maps at 224 px needs 64 MiB, not an 800 MB copy."""
    maps = np.asarray(rf_maps)
    units, height, width = maps.shape
    total, columns, rows = np.empty(units), np.empty((units, width)), np.empty((units, height))
    block = max(1, _CENTRE_BLOCK_BYTES // (8 * height * width))
    for start in range(0, units, block):
        part = np.asarray(maps[start:start + block], dtype=np.float64)
        total[start:start + block] = part.sum(axis=(1, 2))
        columns[start:start + block] = part.sum(axis=1)
        rows[start:start + block] = part.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        azimuth = (columns @ np.asarray(x_deg)) / total
        elevation = (rows @ np.asarray(y_deg)) / total
    return azimuth, elevation
