"""Intrinsic dimension (ID) of representations: TwoNN and what is built on it.

TwoNN (Facco et al. 2017) with the estimator of Ansuini et al. 2019: for each point
mu = r2 / r1 (second over first nearest-neighbour distance); sort mu ascending,
F_i = i / N; fit -log(1 - F_i) = d log(mu_i) through the origin on the smallest
``fraction`` of mu. The maximum-likelihood variant is d = (N - 1) / sum(log mu).

Data may be given as points ``(N, D)``, as a precomputed distance matrix, or as an
iterable of feature chunks ``(N, d_chunk)`` for representations too wide to hold
(see :mod:`prunedistill.distances`). Exact duplicate points are dropped before
anything else (found by hashing rows, not from distances) and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from .distances import DistanceMatrix, PointCloud, distances_from_chunks
from .stats import holm

__all__ = [
    "TwoNNResult",
    "ResampledID",
    "Phase",
    "PhaseAnalysis",
    "neighbour_source",
    "twonn",
    "twonn_from_neighbours",
    "twonn_resampled",
    "twonn_scale",
    "expansion_contraction_phases",
    "holm",
]

# Neighbours kept per point when resampling 90 % subsets: a point needs two of its
# k nearest to survive, which fails with probability ~1e-9 at k = 12.
_RESAMPLE_K = 12


@dataclass(frozen=True)
class TwoNNResult:
    """One TwoNN estimate.

    Attributes:
        dimension: least-squares ID (Ansuini / Facco fit through the origin).
        dimension_mle: maximum-likelihood ID, (N - 1) / sum(log mu).
        mle_standard_error: d_mle / sqrt(N), the asymptotic standard error.
        n_points: points whose mu entered the estimate (N).
        n_fit: points in the least-squares fit, floor(N * fraction).
        n_duplicates: exact duplicate points dropped before the distances.
        n_degenerate: points dropped because r1 == r2.
        fraction: fraction of the smallest mu used in the fit.
        log_mu: log(mu) of the fitted points, ascending, shape (n_fit,).
        neg_log_survival: -log(1 - F_i) of the fitted points, shape (n_fit,).
    """

    dimension: float
    dimension_mle: float
    mle_standard_error: float
    n_points: int
    n_fit: int
    n_duplicates: int
    n_degenerate: int
    fraction: float
    log_mu: np.ndarray = field(repr=False)
    neg_log_survival: np.ndarray = field(repr=False)


def neighbour_source(data=None, *, distances=None, device=None):
    """Wrap points, a distance matrix or feature chunks as a neighbour source.

    Args:
        data: points ``(N, D)`` (numpy or torch), an iterable of feature chunks
            ``(N, d_chunk)``, or an existing source (returned as is).
        distances: a precomputed ``(N, N)`` distance matrix (instead of ``data``).
        device: torch device for the GEMMs; default the GPU when present.
    """
    if (data is None) == (distances is None):
        raise ValueError("give exactly one of `data` (points or feature chunks) and `distances`.")
    if distances is not None:
        if isinstance(distances, DistanceMatrix):
            return distances
        return DistanceMatrix(distances)
    if isinstance(data, (PointCloud, DistanceMatrix)):
        return data
    if isinstance(data, np.ndarray) or hasattr(data, "detach") or isinstance(data, list):
        return PointCloud(data, device=device)
    if isinstance(data, Iterable):
        return distances_from_chunks(data, device=device)
    raise TypeError(
        f"cannot estimate an ID from {type(data).__name__}; pass an array (N, D), "
        "an iterable of feature chunks, or distances=..."
    )


def _validate_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"fraction must be in (0, 1): the largest mu has F = 1 and -log(0) is infinite; "
            f"got {fraction}."
        )


TIE_TOLERANCE = 64 * np.finfo(np.float64).eps
MAX_TIED_FRACTION = 0.5  # more ties than this: the neighbour distances carry no mu


def twonn_from_neighbours(
    r1: np.ndarray, r2: np.ndarray, fraction: float = 0.9, n_duplicates: int = 0
) -> TwoNNResult:
    """TwoNN from first and second nearest-neighbour distances, each shape (N,)."""
    _validate_fraction(fraction)
    r1 = np.asarray(r1, dtype=np.float64)
    r2 = np.asarray(r2, dtype=np.float64)
    zero = r1 == 0
    # A tie up to rounding of the distances (a few ulps) is a tie: log mu of 1e-16 would
    # enter the fit as a point of extreme information.
    degenerate = (r2 <= r1 * (1 + TIE_TOLERANCE)) & ~zero
    keep = ~zero & ~degenerate
    n_degenerate = int(degenerate.sum())
    n_duplicates += int(zero.sum())
    usable = int((~zero).sum())
    if usable and n_degenerate > MAX_TIED_FRACTION * usable:
        raise ValueError(
            f"the first and second neighbour distances tie (r1 == r2) for {n_degenerate} of "
            f"{usable} distinct points: the data lie on a coarse grid (e.g. small integer "
            "counts), where TwoNN's continuity assumption fails. Average trials, use more "
            "features, or estimate on data with finer values.")
    mu = np.sort(r2[keep] / r1[keep])
    n = len(mu)
    n_fit = int(np.floor(n * fraction))
    if n_fit < 2:
        raise ValueError(
            f"only {n} usable points ({n_duplicates} duplicates, {n_degenerate} with r1 == r2); "
            f"TwoNN needs enough points that floor(N * {fraction}) >= 2. Use more stimuli."
        )
    log_mu = np.log(mu)
    x = log_mu[:n_fit]
    y = -np.log1p(-np.arange(1, n_fit + 1) / n)
    dimension = float(x @ y / (x @ x))
    dimension_mle = float((n - 1) / log_mu.sum())
    return TwoNNResult(
        dimension=dimension,
        dimension_mle=dimension_mle,
        mle_standard_error=dimension_mle / np.sqrt(n),
        n_points=n,
        n_fit=n_fit,
        n_duplicates=n_duplicates,
        n_degenerate=n_degenerate,
        fraction=fraction,
        log_mu=x,
        neg_log_survival=y,
    )


def _deduplicated(source):
    unique = source.unique_index()
    n_duplicates = source.n_points - len(unique)
    if len(unique) < 3:
        raise ValueError(
            f"only {len(unique)} distinct points after dropping {n_duplicates} exact duplicates; "
            "an ID needs at least 3 (in practice hundreds). Check for dead units or "
            "identical stimuli."
        )
    if n_duplicates:
        source = source.subset(unique)
    return source, n_duplicates


def twonn(data=None, *, distances=None, fraction: float = 0.9, device=None) -> TwoNNResult:
    """TwoNN intrinsic dimension of a point cloud.

    Args:
        data: points ``(N, D)``, or an iterable of feature chunks ``(N, d_chunk)``.
        distances: a precomputed ``(N, N)`` Euclidean distance matrix instead.
        fraction: fraction of the smallest mu kept in the fit (default 0.9).
        device: torch device for distance GEMMs (default: GPU when present).

    Returns:
        A :class:`TwoNNResult`; ``n_duplicates`` says how many exact duplicate
        points were dropped, ``n_degenerate`` how many had r1 == r2.
    """
    _validate_fraction(fraction)
    source, n_duplicates = _deduplicated(neighbour_source(data, distances=distances, device=device))
    dist, _ = source.knn(2)
    return twonn_from_neighbours(dist[:, 0], dist[:, 1], fraction, n_duplicates)


@dataclass(frozen=True)
class ResampledID:
    """TwoNN repeated on random subsets of the points.

    Attributes:
        mean, std: mean and standard deviation (ddof=1) of the subset estimates.
        values: the estimate of every repeat, shape (repeats,).
        n_points_subset: points in each subset.
        full: the estimate on all points (with its MLE standard error, which the
            subset spread underestimates by about 1.6x; report both).
    """

    mean: float
    std: float
    values: np.ndarray = field(repr=False)
    n_points_subset: int
    full: TwoNNResult = field(repr=False)


def twonn_resampled(
    data=None,
    *,
    distances=None,
    fraction: float = 0.9,
    subset: float = 0.9,
    repeats: int = 50,
    seed: int = 0,
    device=None,
) -> ResampledID:
    """TwoNN mean +- std over ``repeats`` random subsets of ``subset`` of the points.

    Neighbour lists of all points are computed once; a subset's two nearest
    neighbours are read from them, and recomputed exactly in the rare case that
    fewer than two of a point's listed neighbours are in the subset.
    """
    if not 0.0 < subset <= 1.0:
        raise ValueError(f"subset must be in (0, 1]; got {subset}.")
    if repeats < 2:
        raise ValueError(f"repeats must be at least 2 for a standard deviation; got {repeats}.")
    _validate_fraction(fraction)
    source, n_duplicates = _deduplicated(neighbour_source(data, distances=distances, device=device))
    n = source.n_points
    k = min(_RESAMPLE_K, n - 1)
    dist, index = source.knn(k)
    full = twonn_from_neighbours(dist[:, 0], dist[:, 1], fraction, n_duplicates)
    size = int(np.floor(n * subset))
    rng = np.random.default_rng(seed)
    values = np.empty(repeats)
    for r in range(repeats):
        chosen = np.sort(rng.choice(n, size=size, replace=False))
        r1, r2 = _two_nearest_within(source, dist, index, chosen)
        values[r] = twonn_from_neighbours(r1, r2, fraction).dimension
    return ResampledID(
        mean=float(values.mean()),
        std=float(values.std(ddof=1)),
        values=values,
        n_points_subset=size,
        full=full,
    )


def _two_nearest_within(source, dist, index, chosen):
    """r1, r2 of each chosen point among the chosen points, from k-NN lists."""
    member = np.zeros(source.n_points, dtype=bool)
    member[chosen] = True
    in_subset = member[index[chosen]]
    n_found = in_subset.sum(axis=1)
    if (n_found < 2).any():
        sub_dist, _ = source.subset(chosen).knn(2)
        return sub_dist[:, 0], sub_dist[:, 1]
    first = np.argmax(in_subset, axis=1)
    in_subset[np.arange(len(chosen)), first] = False
    second = np.argmax(in_subset, axis=1)
    rows = dist[chosen]
    return rows[np.arange(len(chosen)), first], rows[np.arange(len(chosen)), second]


def twonn_scale(
    data=None,
    *,
    distances=None,
    max_blocks: int = 20,
    fraction: float = 0.9,
    min_points: int = 10,
    seed: int = 0,
    device=None,
) -> pd.DataFrame:
    """Scale (decimation) analysis: ID in b = 1..max_blocks disjoint random blocks.

    Returns a tidy table, one row per number of blocks, with columns
    ``n_blocks``, ``n_points`` (points per block, the smallest block),
    ``id_mean``, ``id_std`` (ddof=1 over blocks; NaN for one block) and
    ``id_mle_mean``. Block counts leaving fewer than ``min_points`` points per
    block are skipped.
    """
    _validate_fraction(fraction)
    source, _ = _deduplicated(neighbour_source(data, distances=distances, device=device))
    n = source.n_points
    rng = np.random.default_rng(seed)
    rows = []
    for n_blocks in range(1, max_blocks + 1):
        if n // n_blocks < min_points:
            break
        blocks = np.array_split(rng.permutation(n), n_blocks)
        estimates = []
        for block in blocks:
            d, _ = source.subset(np.sort(block)).knn(2)
            estimates.append(twonn_from_neighbours(d[:, 0], d[:, 1], fraction))
        ids = np.array([e.dimension for e in estimates])
        rows.append(
            {
                "n_blocks": n_blocks,
                "n_points": min(len(b) for b in blocks),
                "id_mean": float(ids.mean()),
                "id_std": float(ids.std(ddof=1)) if n_blocks > 1 else float("nan"),
                "id_mle_mean": float(np.mean([e.dimension_mle for e in estimates])),
            }
        )
    if not rows:
        raise ValueError(f"{n} points are fewer than min_points={min_points}.")
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Phase:
    """One expansion-contraction phase along an ordered hierarchy (stage indices)."""

    start: int
    peak: int
    end: int
    start_name: str
    peak_name: str
    end_name: str


@dataclass(frozen=True)
class PhaseAnalysis:
    """Significant steps and the phases they form.

    ``steps`` is a tidy table with one row per step (from, to, median change,
    direction tested, one-tailed p, Holm-adjusted p, ``sign`` in {+1, -1, 0}).
    """

    steps: pd.DataFrame
    phases: list[Phase]


def expansion_contraction_phases(
    resampled_ids: Sequence[np.ndarray],
    stage_names: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> PhaseAnalysis:
    """Expansion-contraction phases from resampled IDs of ordered stages.

    Each step s -> s+1 is tested with a one-tailed Mann-Whitney U in the
    direction of the change of medians; p-values are Holm-corrected over steps.
    A phase is a maximal run of significant increases followed immediately by
    a maximal run of significant decreases. The number of phases is found, not
    assumed. Note that overlapping subsets make resampled IDs dependent, so
    these p-values are optimistic; they order evidence, they are not exact.

    Args:
        resampled_ids: one 1D array of resampled IDs per stage, in hierarchy order.
        stage_names: names for the stages (default "0", "1", ...).
        alpha: family-wise significance level.
    """
    samples = [np.asarray(v, dtype=np.float64).ravel() for v in resampled_ids]
    if len(samples) < 2:
        raise ValueError("need at least two stages to find phases.")
    if any(len(s) < 2 for s in samples):
        raise ValueError("each stage needs at least two resampled IDs.")
    names = [str(i) for i in range(len(samples))] if stage_names is None else list(stage_names)
    if len(names) != len(samples):
        raise ValueError(f"{len(names)} stage names for {len(samples)} stages.")
    records = []
    for s in range(len(samples) - 1):
        before, after = samples[s], samples[s + 1]
        change = float(np.median(after) - np.median(before))
        direction = "greater" if change >= 0 else "less"
        p = float(mannwhitneyu(after, before, alternative=direction).pvalue)
        records.append(
            {"from": names[s], "to": names[s + 1], "median_change": change,
             "direction": "increase" if change >= 0 else "decrease", "p": p}
        )
    steps = pd.DataFrame(records)
    steps["p_holm"] = holm(steps["p"].to_numpy())
    significant = steps["p_holm"] < alpha
    steps["sign"] = np.where(
        significant, np.where(steps["direction"] == "increase", 1, -1), 0
    ).astype(int)
    return PhaseAnalysis(steps=steps, phases=_phases_from_signs(steps["sign"].tolist(), names))


def _phases_from_signs(signs: list[int], names: list[str]) -> list[Phase]:
    phases = []
    s = 0
    while s < len(signs):
        if signs[s] != 1:
            s += 1
            continue
        start = s
        while s < len(signs) and signs[s] == 1:
            s += 1
        peak = s
        while s < len(signs) and signs[s] == -1:
            s += 1
        if s > peak:
            phases.append(Phase(start, peak, s, names[start], names[peak], names[s]))
    return phases
