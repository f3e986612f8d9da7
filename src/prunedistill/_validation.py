"""Input checks shared by the estimators: each error names the problem and the fix."""

from __future__ import annotations

import numpy as np


class PrunedistillError(Exception):
    """Base of every error this project raises on purpose: bad input, a missing stage, a
    config that does not validate. The message names the problem and the fix; the CLI
    prints it as ``error: ...`` and exits 2."""


class BadInput(PrunedistillError, ValueError):
    """Input that cannot be used as given (images, arrays, a model, its preprocessing); the
    message says what to change."""


def as_finite_matrix(x, name: str, *, min_rows: int = 1, min_cols: int = 1) -> np.ndarray:
    """Return ``x`` as a 2D floating array, refusing NaN/inf and too-small shapes."""
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2D array (points x features); got shape {array.shape}. "
            "Flatten each point's features into one row."
        )
    if not np.issubdtype(array.dtype, np.floating):
        if not np.issubdtype(array.dtype, np.number):
            raise TypeError(f"{name} must be numeric; got dtype {array.dtype}.")
        array = array.astype(np.float64)
    if array.shape[0] < min_rows:
        raise ValueError(
            f"{name} has {array.shape[0]} rows; at least {min_rows} are needed."
        )
    if array.shape[1] < min_cols:
        raise ValueError(
            f"{name} has {array.shape[1]} columns; at least {min_cols} are needed."
        )
    check_finite(array, name)
    return array


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise if ``array`` holds NaN or inf, saying where the first one is."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)
        n_bad = len(bad)
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s), first at index "
            f"{tuple(int(i) for i in bad[0])}. Remove or impute them before estimating "
            "(NaN activations usually mean a diverged network or a bad input image)."
        )


def as_labels(x, name: str, n_samples: int | None = None) -> np.ndarray:
    """Return a 1D integer-coded copy of a discrete variable (codes 0..K-1)."""
    array = np.asarray(x)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1D (one value per sample); got shape {array.shape}.")
    if n_samples is not None and len(array) != n_samples:
        raise ValueError(
            f"{name} has {len(array)} samples but the responses have {n_samples}; "
            "they must describe the same samples in the same order."
        )
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    _, codes = np.unique(array, return_inverse=True)
    return codes.astype(np.int64).reshape(-1)
