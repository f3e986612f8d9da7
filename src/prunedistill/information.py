"""Single-unit mutual information, in bits, vectorised over units.

Responses ``R[unit, sample]`` are discretised per unit into equipopulated bins
by rank (ties never straddle a bin edge). The information about a discrete
variable ``X`` (shared ``(sample,)`` or per unit ``(unit, sample)``) comes from
joint histograms built with one flattened ``bincount`` over a block of units.

Bias corrections (docs/science.md, section 4): Panzeri-Treves (``"pt"``, relevant bins
counted with their Bayesian procedure; ``"pt_observed"`` counts the observed non-empty
bins), quadratic extrapolation (``"qe"``, averaged over stratified repartitions), and
shuffle subtraction (``n_shuffles > 0``), whose permutations also give the permutation
p-value. Default: PT, then shuffle subtraction with 100 permutations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np
from scipy.special import gammaln

from ._validation import as_finite_matrix, as_labels
from .distances import device_matmul, distinct_rows, runs_numpy

__all__ = [
    "equipopulated_bins",
    "bayesian_relevant_bins",
    "InformationResult",
    "mutual_information",
    "information",
    "conditional_information_plugin",
    "Decomposition",
    "decompose",
    "invariant_object_information",
]

CORRECTIONS = ("none", "pt", "pt_observed", "qe")
# Units per block of the joint histogram; bounds memory to a few hundred MB.
_UNIT_BLOCK_ELEMENTS = 2**23
# Up to this many bins, comparing with n_bins - 1 order statistics beats sorting each row
# (measured at 380 samples: 3 bins 0.24 s vs 0.53 s, 23 bins 0.51 vs 0.60 s per 20,000 units;
# even at 32, slower from 48).
_THRESHOLD_MAX_BINS = 24


def equipopulated_bins(responses, n_bins: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Discretise each unit's responses into ``n_bins`` equipopulated bins by rank.

    A value's bin is ``floor(first_rank * n_bins / N)`` where ``first_rank`` is
    the rank of the first of its ties, so equal values always share a bin; bins
    are then renumbered 0..used-1. Heavy ties (e.g. ReLU zeros) can leave fewer
    than ``n_bins`` bins; a unit with one distinct value gets one bin.

    Args:
        responses: ``(unit, sample)`` array of responses.
        n_bins: requested number of bins (>= 2).

    Returns:
        ``binned``: ``(unit, sample)`` int16 bin codes; ``n_bins_used``: ``(unit,)``.
    """
    r = as_finite_matrix(responses, "responses", min_rows=1, min_cols=2)
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2; got {n_bins}.")
    n_units, n_samples = r.shape
    if n_bins > n_samples:
        raise ValueError(
            f"cannot make {n_bins} bins from {n_samples} samples: fewer samples than bins. "
            "Use more samples (stimuli x trials) or fewer bins."
        )
    if n_bins <= _THRESHOLD_MAX_BINS:
        return _bins_by_threshold(r, n_bins)
    return _bins_by_rank(r, n_bins)


def _bins_by_rank(r: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`equipopulated_bins` from a stable argsort of each row: O(N log N) per unit."""
    n_samples = r.shape[1]
    order = np.argsort(r, axis=1, kind="stable")
    ordered = np.take_along_axis(r, order, axis=1)
    positions = np.broadcast_to(np.arange(n_samples), r.shape)
    starts_group = np.ones(r.shape, dtype=bool)
    starts_group[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first_rank = np.maximum.accumulate(np.where(starts_group, positions, 0), axis=1)
    raw_bin = (first_rank * n_bins) // n_samples
    new_bin = np.ones(r.shape, dtype=bool)
    new_bin[:, 1:] = raw_bin[:, 1:] != raw_bin[:, :-1]
    dense = (np.cumsum(new_bin, axis=1) - 1).astype(np.int16)
    binned = np.empty_like(dense)
    np.put_along_axis(binned, order, dense, axis=1)
    return binned, dense[:, -1].astype(np.int64) + 1


def _bins_by_threshold(r: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`equipopulated_bins` from ``n_bins - 1`` order statistics per row, the same
    codes as :func:`_bins_by_rank` without sorting: a value's raw bin is at least j exactly
    when at least ``k_j = ceil(j N / n_bins)`` values are below it, i.e. when it exceeds
    the row's ``k_j``-th smallest value (``np.partition``, O(N) per unit)."""
    n_units, n_samples = r.shape
    ranks = [-(-j * n_samples // n_bins) for j in range(1, n_bins)]  # k_j
    order_statistics = np.partition(r, [k - 1 for k in ranks], axis=1)
    raw_bin = np.zeros(r.shape, dtype=np.int16)
    for k in ranks:
        raw_bin += r > order_statistics[:, k - 1:k]
    present = np.zeros((n_units, n_bins), dtype=bool)
    present[np.arange(n_units)[:, None], raw_bin] = True
    renumbered = (np.cumsum(present, axis=1) - 1).astype(np.int16)
    return (np.take_along_axis(renumbered, raw_bin, axis=1),
            present.sum(axis=1).astype(np.int64))


def _check_labels(labels, n_units: int, n_samples: int, name: str) -> tuple[np.ndarray, int]:
    """Integer codes ``(1 or unit, sample)`` for a shared or per-unit variable."""
    array = np.asarray(labels)
    if array.ndim == 1:
        codes = as_labels(array, name, n_samples)[None, :]
    elif array.ndim == 2:
        if array.shape != (n_units, n_samples):
            raise ValueError(
                f"per-unit {name} must have shape (unit, sample) = {(n_units, n_samples)}; "
                f"got {array.shape}."
            )
        codes = _row_codes(array, name)
    else:
        raise ValueError(f"{name} must be 1D (sample,) or 2D (unit, sample); got {array.ndim}D.")
    n_classes = int(codes.max()) + 1
    if n_classes < 2:
        raise ValueError(
            f"{name} takes a single value: there is nothing to be informative about. "
            "Check that the samples span more than one class."
        )
    if n_samples < n_classes:
        raise ValueError(
            f"{n_samples} samples are fewer than the {n_classes} classes of {name}; "
            "the information cannot be estimated. Use more samples or fewer classes."
        )
    return codes, n_classes


def _row_codes(array: np.ndarray, name: str) -> np.ndarray:
    """Each row's values coded 0..K_row-1 in ascending order (``np.unique``'s inverse, row
    by row), ``(rows, sample)`` int64."""
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    order = np.argsort(array, axis=1, kind="stable")
    ordered = np.take_along_axis(array, order, axis=1)
    new_value = np.ones(array.shape, dtype=bool)
    new_value[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    codes = np.empty(array.shape, dtype=np.int64)
    np.put_along_axis(codes, order, np.cumsum(new_value, axis=1) - 1, axis=1)
    return codes


def _histogram_base(binned: np.ndarray, n_bins: int, n_classes: int) -> np.ndarray:
    """Flat histogram index of each (unit, bin), to which a class code is added."""
    n_units = binned.shape[0]
    unit_offset = (np.arange(n_units, dtype=np.int64) * (n_bins * n_classes))[:, None]
    return unit_offset + binned.astype(np.int64) * n_classes


def _joint_counts(base: np.ndarray, codes: np.ndarray, n_bins: int, n_classes: int) -> np.ndarray:
    """Joint histogram ``(unit, bin, class)`` from one flattened bincount.

    ``codes`` is ``(1, sample)`` (shared, broadcast) or ``(unit, sample)``.
    """
    n_units = base.shape[0]
    counts = np.bincount((base + codes).ravel(), minlength=n_units * n_bins * n_classes)
    return counts.reshape(n_units, n_bins, n_classes)


def _joint_counts_of(binned, n_bins, codes, n_classes):
    return _joint_counts(_histogram_base(binned, n_bins, n_classes), codes, n_bins, n_classes)


_XLOGX = np.zeros(1)


def _xlog2x(n_max: int) -> np.ndarray:
    """Table of ``c * log2(c)`` for integer counts ``c = 0..n_max`` (0 log 0 = 0), cached."""
    global _XLOGX
    if len(_XLOGX) <= n_max:
        c = np.arange(max(n_max + 1, 2 * len(_XLOGX)), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            _XLOGX = np.where(c > 0, c * np.log2(c), 0.0)
    return _XLOGX


def bayesian_relevant_bins(counts: np.ndarray) -> np.ndarray:
    """Panzeri & Treves (1996)'s Bayesian count of relevant response bins: for histograms
    ``counts (..., B)`` of N samples over B possible bins, the number R_obs + k of bins with
    non-zero probability, k the number of empty bins taken as relevant.

    Candidate k = 0, 1, ... : the observed bins get probability (1 - g) (c_r + 1) / (N +
    R_obs), the k empty ones g / k each, with g = k (1 - (N / (N + R_obs))^(1 / N)); the
    expected number of non-empty bins in N draws, sum_r 1 - (1 - p_r)^N, is compared with
    R_obs. k grows while the match improves (k = 0 uses the plug-in probabilities). Empty
    histograms (N = 0) count 0.

    The count depends on the histogram alone, and a layer's thousands of histograms (units x
    classes, every shuffle) take few distinct values: it is computed once per distinct
    histogram, with the same arithmetic, so the result is the same to the last bit.
    """
    counts = np.asarray(counts, dtype=np.float64)
    rows = counts.reshape(-1, counts.shape[-1])
    if len(rows) == 0:
        return np.zeros(counts.shape[:-1])
    distinct, inverse = _distinct_rows(rows)
    return _bayesian_count_rows(distinct)[inverse].reshape(counts.shape[:-1])


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``rows (n, B)`` and the index of each row among them. Rows of
    small non-negative integers (histograms) are packed into one integer key each
    (:func:`_distinct_keys`), others sorted as rows."""
    base = int(rows.max()) + 1
    integer = rows.min() >= 0 and np.all(rows == np.floor(rows))
    if not integer or rows.shape[1] * np.log2(base) >= 62:
        distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
        return distinct, inverse.ravel()
    digits = base ** np.arange(rows.shape[1], dtype=np.int64)
    distinct_keys, inverse = _distinct_keys(rows.astype(np.int64) @ digits,
                                            base ** rows.shape[1])
    distinct = (distinct_keys[:, None] // digits) % base
    return distinct.astype(np.float64), inverse


def _bayesian_count_rows(counts: np.ndarray) -> np.ndarray:
    """:func:`bayesian_relevant_bins` of every row of ``counts (rows, B)``, computed row by
    row (vectorised)."""
    counts = np.asarray(counts, dtype=np.float64)
    n_possible = counts.shape[-1]
    n = counts.sum(axis=-1)
    occupied = counts > 0
    observed = occupied.sum(axis=-1).astype(np.float64)
    safe_n = np.where(n > 0, n, 1.0)
    plugin_p = counts / safe_n[..., None]
    expected = np.where(occupied, 1.0 - (1.0 - plugin_p) ** safe_n[..., None], 0.0).sum(-1)
    best_k = np.zeros_like(observed)
    best_miss = np.abs(observed - expected)
    searching = (observed < n_possible) & (n > 0)
    for k in range(1, n_possible):
        searching &= observed + k <= n_possible
        if not searching.any():
            break
        gamma = k * (1.0 - (safe_n / (safe_n + observed)) ** (1.0 / safe_n))
        p = (1.0 - gamma)[..., None] * (counts + 1.0) / (safe_n + observed)[..., None]
        expected = (np.where(occupied, 1.0 - (1.0 - p) ** safe_n[..., None], 0.0).sum(-1)
                    + k * (1.0 - (1.0 - gamma / k) ** safe_n))
        miss = np.abs(observed - expected)
        better = searching & (miss < best_miss)
        best_k = np.where(better, k, best_k)
        best_miss = np.where(better, miss, best_miss)
        searching = better
    return np.where(n > 0, observed + best_k, 0.0)


@dataclass(frozen=True)
class _Margins:
    """The terms of :func:`_plugin_and_pt_bias` that depend only on the margins of the
    ``(unit, bin, class)`` counts, which a label permutation leaves as they are."""

    n: np.ndarray  # samples per unit
    row_term: np.ndarray  # sum_r c_r log2 c_r
    column_term: np.ndarray  # sum_x c_x log2 c_x
    n_term: np.ndarray  # N log2 N
    relevant: np.ndarray  # relevant response bins overall, R~ (or the observed count)
    present_class: np.ndarray  # (unit, class): classes with samples


def _margins(counts: np.ndarray, bayesian: bool) -> _Margins:
    row = counts.sum(axis=2)  # (unit, bin)
    column = counts.sum(axis=1)  # (unit, class)
    n = row.sum(axis=1)
    table = _xlog2x(int(n.max()))
    relevant = bayesian_relevant_bins(row) if bayesian else (row > 0).sum(axis=1)
    return _Margins(n, table[row].sum(axis=1), table[column].sum(axis=1), table[n], relevant,
                    column > 0)


def _plugin_from_cells(cell_sum: np.ndarray, m: _Margins) -> np.ndarray:
    """Plug-in information, bits, from the sum of the cells' ``c log2 c``:
    I = [sum c_rx log c_rx - sum c_r log c_r - sum c_x log c_x + N log N] / N."""
    return (cell_sum - m.row_term - m.column_term + m.n_term) / m.n


def _pt_bias(relevant_per_class: np.ndarray, m: _Margins) -> np.ndarray:
    """Panzeri-Treves bias, bits, from the relevant bins of each class ``(..., class)``:
    [sum over present classes of (R~_x - 1) - (R~ - 1)] / (2 N ln 2)."""
    bias = ((relevant_per_class - 1) * m.present_class).sum(axis=-1) - (m.relevant - 1)
    return bias / (2.0 * m.n * np.log(2.0))


def _plugin_and_pt_bias(counts: np.ndarray, bayesian: bool = True,
                        margins: _Margins | None = None
                        ) -> tuple[np.ndarray, np.ndarray, _Margins]:
    """Plug-in information and Panzeri-Treves bias, bits, from ``(unit, bin, class)`` counts
    (or ``(order, unit, bin, class)``: the counts of several label orders of the same units);
    relevant bins by :func:`bayesian_relevant_bins`, or the observed non-empty ones; and the
    margin terms, which ``margins`` supplies when they are known (counts of permuted labels
    have the margins of the unpermuted ones).

    The ``c log c`` terms are read from a table: no divisions or logarithms per cell.
    """
    m = _margins(counts, bayesian) if margins is None else margins
    info = _plugin_from_cells(_xlog2x(int(m.n.max()))[counts].sum(axis=(-2, -1)), m)
    if bayesian:
        relevant_per_class = bayesian_relevant_bins(np.moveaxis(counts, -2, -1))  # R~_x
    else:
        relevant_per_class = (counts > 0).sum(axis=-2)
    return info, _pt_bias(relevant_per_class, m), m


def stratified_parts(codes: np.ndarray, n_parts: int, rng: np.random.Generator) -> np.ndarray:
    """Part numbers ``(rows, sample)`` in 0..n_parts-1: each class's samples (per row of
    ``codes``, ``(rows, sample)``) dealt to the parts in a random order, so every part keeps
    the class proportions (to within one sample per class)."""
    rows, n_samples = codes.shape
    shuffled_rank = np.argsort(rng.permutation(n_samples))
    order = np.argsort(codes.astype(np.int64) * n_samples + shuffled_rank[None], axis=1,
                       kind="stable")
    sorted_codes = np.take_along_axis(codes, order, axis=1)
    starts = np.concatenate([np.ones((rows, 1), bool),
                             sorted_codes[:, 1:] != sorted_codes[:, :-1]], axis=1)
    position = np.broadcast_to(np.arange(n_samples), (rows, n_samples))
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    parts = np.empty_like(order)
    np.put_along_axis(parts, order, (position - first) % n_parts, axis=1)
    return parts


def _part_counts(index: np.ndarray, parts: np.ndarray, part: int, n_bins: int,
                 n_classes: int) -> np.ndarray:
    """Joint histogram ``(unit, bin, class)`` of the samples assigned to ``part``, from the
    flat histogram ``index`` ``(unit, sample)`` (base + class code) and ``parts``
    ``(1 or unit, sample)`` part numbers."""
    chosen = index[np.broadcast_to(parts == part, index.shape)]
    counts = np.bincount(chosen, minlength=index.shape[0] * n_bins * n_classes)
    return counts.reshape(index.shape[0], n_bins, n_classes)


def _estimate(base, n_bins, codes, n_classes, correction, qe_parts, margins=None):
    """Bias-corrected, plug-in and bias per unit (no shuffling), and the margin terms of the
    counts (``margins``: those of the unpermuted labels, for a permutation of them).
    ``qe_parts``: per repartition, the part numbers of the halves and of the quarters."""
    counts = _joint_counts(base, codes, n_bins, n_classes)
    # the Bayesian count is only needed where the PT bias is the correction
    plugin, bias, margins = _plugin_and_pt_bias(counts, correction == "pt", margins)
    if correction == "none":
        return plugin, plugin, np.zeros_like(plugin), margins
    if correction in ("pt", "pt_observed"):
        return plugin - bias, plugin, bias, margins
    # Quadratic extrapolation over the whole data, halves and quarters, the part estimates
    # averaged over repartitions.
    n_samples = base.shape[1]
    index = np.broadcast_to(base + codes, base.shape)
    sizes, means = [n_samples, n_samples / 2, n_samples / 4], [plugin]
    for split in (0, 1):
        n_parts = 2 ** (split + 1)
        total = np.zeros_like(plugin)
        for repartition in qe_parts:
            for part in range(n_parts):
                part_counts = _part_counts(index, repartition[split], part, n_bins,
                                           n_classes)
                total += _plugin_and_pt_bias(part_counts, bayesian=False)[0]
        means.append(total / (n_parts * len(qe_parts)))
    x = 1.0 / np.asarray(sizes)
    weights = np.array(
        [np.prod([x[j] / (x[j] - x[i]) for j in range(3) if j != i]) for i in range(3)]
    )
    extrapolated = sum(w * m for w, m in zip(weights, means))
    return extrapolated, plugin, plugin - extrapolated, margins


def _estimates_one_by_one(binned, n_bins, codes, n_classes, correction, qe_parts,
                          permutations):
    """:func:`_estimate` of the unpermuted labels and of every permutation, one at a time
    (quadratic extrapolation, and histograms too large to pack into keys):
    ``(information, plugin, bias)`` per unit and the list of permuted estimates."""
    base = _histogram_base(binned, n_bins, n_classes)
    info, plugin, bias, margins = _estimate(base, n_bins, codes, n_classes, correction,
                                            qe_parts)
    shuffled = [_estimate(base, n_bins, codes[:, perm], n_classes, correction, qe_parts,
                          margins)[0] for perm in permutations]
    return info, plugin, bias, shuffled


# Shared labels with at most this many classes get their keys from a GEMM (its cost grows
# with the classes, a bincount's does not); one-hot label blocks of at most this many cells.
_GEMM_MAX_CLASSES = 64
_ONE_HOT_ELEMENTS = 2**23


def _class_histogram_keys(binned, n_bins, codes, n_classes, orders, radix, device="cpu"):
    """Each class's response histogram packed into one integer, for every label order:
    ``keys (order, unit, class) = sum_b count_b * radix**b``, with ``count_b`` the samples
    of the class in bin b when sample s carries the label ``codes[..., orders[p, s]]``.

    A key is the sum over the class's samples of ``radix**bin``, so units sharing one label
    row (shared labels ``(1, sample)``, or equal rows of per-unit labels ``(unit,
    sample)``, e.g. the binned RF variables of every unit whose RF covers the whole image)
    give every order at once in one GEMM of those weights ``(unit, sample)`` with the
    one-hot reordered labels ``(sample, order * class)``, exact because every partial sum
    is an integer below the float's 2**24 (float32) or 2**53 (float64). Units with a label
    row of their own, and labels with so many classes that the one-hot GEMM costs more
    than counting: one weighted bincount per order. Both give the same integers. On a torch
    ``device`` the GEMM is in float64 (exact whatever the device's float32 matmul
    precision, e.g. TF32), so the keys equal the CPU's to the bit.
    """
    n_units = binned.shape[0]
    dtype = np.float32 if runs_numpy(device) and radix ** n_bins <= 2**24 else np.float64
    weights = (float(radix) ** binned.astype(np.int64)).astype(dtype)
    if n_classes > _GEMM_MAX_CLASSES:
        return _counted_keys(weights, codes, n_classes, orders)
    if codes.shape[0] == 1:
        return _gemm_keys(weights, codes[0], n_classes, orders, device)
    keys = np.empty((len(orders), n_units, n_classes), dtype=np.int64)
    first, inverse = distinct_rows(codes)
    members = np.bincount(inverse)
    alone = members[inverse] == 1
    for row in np.flatnonzero(members > 1):
        units = np.flatnonzero(inverse == row)
        keys[:, units] = _gemm_keys(weights[units], codes[first[row]], n_classes, orders, device)
    if alone.any():
        keys[:, alone] = _counted_keys(weights[alone], codes[alone], n_classes, orders)
    return keys


def _gemm_keys(weights, labels, n_classes, orders, device):
    """Keys ``(order, unit, class)`` of units ``weights (unit, sample)`` sharing the label
    row ``labels (sample,)``: one GEMM per block of orders."""
    n_units, n_samples = weights.shape
    keys = np.empty((len(orders), n_units, n_classes), dtype=np.int64)
    chunk = max(1, _ONE_HOT_ELEMENTS // (n_samples * n_classes))
    for start in range(0, len(orders), chunk):
        reordered = labels[orders[start:start + chunk].T]  # (sample, order)
        one_hot = (reordered[:, :, None] == np.arange(n_classes)).astype(weights.dtype)
        part = device_matmul(weights, one_hot.reshape(n_samples, -1), device)
        keys[start:start + chunk] = part.reshape(n_units, -1, n_classes).transpose(1, 0, 2)
    return keys


def _counted_keys(weights, codes, n_classes, orders):
    """Keys ``(order, unit, class)`` from one weighted bincount per order; ``codes`` are
    per-unit ``(unit, sample)`` or shared ``(1, sample)`` labels."""
    n_units = weights.shape[0]
    codes = np.broadcast_to(codes, weights.shape)
    offset = (np.arange(n_units, dtype=np.int64) * n_classes)[:, None]
    flat_weights = weights.astype(np.float64).ravel()
    keys = np.empty((len(orders), n_units, n_classes), dtype=np.int64)
    for p, order in enumerate(orders):
        keys[p] = np.bincount((offset + codes[:, order]).ravel(), weights=flat_weights,
                              minlength=n_units * n_classes).reshape(n_units, n_classes)
    return keys


def _distinct_keys(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of the integer ``keys`` (all below ``n_keys``) and the index of
    each key among them: marked in a dense table when the key space is small, else sorted."""
    flat = keys.ravel()
    if n_keys > max(1 << 22, 4 * len(flat)):
        distinct, inverse = np.unique(flat, return_inverse=True)
        return distinct, inverse.reshape(keys.shape)
    present = np.zeros(n_keys, dtype=bool)
    present[flat] = True
    position = np.cumsum(present) - 1
    return np.flatnonzero(present), position[keys]


def _estimates_from_keys(binned, n_bins, codes, n_classes, correction, orders, device="cpu"):
    """Corrected (PT, observed-bins PT, or none) information of the labels in every order
    of ``orders (order, sample)`` (the first the identity): ``(information, plugin, bias)``
    per unit for the first order and ``(order - 1, unit)`` for the rest.

    The histograms come packed as keys (:func:`_class_histogram_keys`); the ``c log c``
    cells and the relevant-bin counts are computed once per distinct key and spread back,
    and the cells are summed in the layout of :func:`_plugin_and_pt_bias`, so the values
    equal the order-by-order estimates to the bit. Every order is a permutation of the
    first, so all share its margins.
    """
    counts = _joint_counts_of(binned, n_bins, codes, n_classes)
    radix = int(counts.sum(axis=1).max()) + 1  # above any count: the largest class
    if radix ** n_bins > 2**53:
        return _estimates_one_by_one(binned, n_bins, codes, n_classes, correction, [],
                                     orders[1:])
    bayesian = correction == "pt"
    m = _margins(counts, bayesian)
    keys = _class_histogram_keys(binned, n_bins, codes, n_classes, orders, radix, device)
    distinct, inverse = _distinct_keys(keys, radix ** n_bins)
    histograms = (distinct[:, None] // radix ** np.arange(n_bins)) % radix  # (key, bin)
    cell = _xlog2x(int(m.n.max()))[histograms]
    cells = np.empty((*keys.shape[:2], n_bins, n_classes))
    for b in range(n_bins):
        cells[:, :, b, :] = cell[:, b][inverse]
    plugin = _plugin_from_cells(cells.sum(axis=(-2, -1)), m)
    if correction == "none":
        bias = np.zeros_like(plugin)
    else:
        per_key = (_bayesian_count_rows(histograms) if bayesian
                   else (histograms > 0).sum(axis=1))
        bias = _pt_bias(per_key[inverse], m)  # per_key[inverse]: R~_x
    corrected = plugin - bias
    return corrected[0], plugin[0], bias[0], corrected[1:]


NULLS = ("shuffles", "exact")
# Most response histograms of one class enumerated for the exact Bayesian-count expectation.
_MAX_COMPOSITIONS = 2_000_000


_LOG_FACTORIAL = np.zeros(1)


def _log_choose(n, k) -> np.ndarray:
    """log C(n, k) for integer arrays (broadcast), -inf where k < 0 or k > n; from a cached
    table of log-factorials."""
    global _LOG_FACTORIAL
    n, k = np.broadcast_arrays(np.asarray(n, dtype=np.int64), np.asarray(k, dtype=np.int64))
    if len(_LOG_FACTORIAL) <= n.max(initial=0):
        _LOG_FACTORIAL = gammaln(np.arange(max(int(n.max()) + 1, 2 * len(_LOG_FACTORIAL))) + 1.0)
    valid = (k >= 0) & (k <= n)
    k, rest = np.where(valid, k, 0), np.where(valid, n - k, 0)
    table = _LOG_FACTORIAL
    return np.where(valid, table[np.where(valid, n, 0)] - table[k] - table[rest], -np.inf)


def _cell_nulls(row: np.ndarray, column: np.ndarray, total: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """For cells with row margins ``row`` and column margins ``column`` (1D, the distinct
    pairs) among ``total`` samples, under label permutation (the count n is
    hypergeometric, C(row, n) C(total - row, column - n) / C(total, column)): the mean of
    ``n log2(total n / (row column))`` and the probability that the cell is empty."""
    n = np.arange(int(np.minimum(row, column).max(initial=0)) + 1)
    row_, column_ = row[:, None], column[:, None]
    log_p = (_log_choose(row_, n) + _log_choose(total - row_, column_ - n)
             - _log_choose(total, column_))
    p = np.exp(log_p)
    with np.errstate(divide="ignore"):
        term = np.where(p > 0, n * np.log2(np.maximum(n, 1) * total
                                           / np.maximum(row_ * column_, 1)), 0.0)
    return (p * term).sum(axis=1), p[:, 0]


@lru_cache(maxsize=64)
def _class_histograms(n: int, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Every histogram of ``n`` samples over ``parts`` bins ``(histograms, parts)`` int64
    (stars and bars: the bins between ``parts - 1`` bar positions among ``n + parts - 1``),
    and the Bayesian relevant-bin count of each."""
    bars = np.array(list(combinations(range(n + parts - 1), parts - 1)),
                    dtype=np.int64).reshape(-1, parts - 1)
    edges = np.column_stack([np.full(len(bars), -1), bars, np.full(len(bars), n + parts - 1)])
    histograms = np.diff(edges, axis=1) - 1
    return histograms, _bayesian_count_rows(histograms)


def _expected_bayesian_counts(bins: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Expectation over label permutations of the Bayesian relevant-bin count of each
    class's response histogram, ``(unit, class)``: the histogram of a class of ``classes
    (unit, class)`` samples is multivariate hypergeometric over bins of sizes ``bins
    (unit, bin)``, so every possible histogram is enumerated with its probability. The
    expectation depends on the bin sizes and the class size only: it is computed once per
    distinct pair."""
    n_bins = bins.shape[1]
    total = int(bins[0].sum())
    expected = np.zeros(classes.shape)
    for size in np.unique(classes[classes > 0]):
        n_histograms = comb(int(size) + n_bins - 1, n_bins - 1)
        if n_histograms > _MAX_COMPOSITIONS:
            raise ValueError(
                f"the exact null of the Bayesian PT count would enumerate {n_histograms:,} "
                f"histograms of a {size}-sample class over {n_bins} bins; use "
                "bias_correction 'pt_observed' or 'none' with the exact null, or the shuffle "
                "null.")
        histograms, counts = _class_histograms(int(size), n_bins)
        has_size = (classes == size).any(axis=1)
        distinct, inverse = np.unique(bins[has_size], axis=0, return_inverse=True)
        # log C(bin size, count) of each distinct bin sizes, bin and count 0..size
        log_choose = _log_choose(distinct[:, :, None], np.arange(size + 1))
        log_p = sum(log_choose[:, b, histograms[:, b]] for b in range(n_bins))
        per_bins = np.exp(log_p - _log_choose(total, size)) @ counts
        lookup = np.zeros(len(classes))
        lookup[has_size] = per_bins[inverse.ravel()]
        expected = np.where(classes == size, lookup[:, None], expected)
    return expected


def _exact_null(counts: np.ndarray, correction: str) -> np.ndarray:
    """Mean over all label permutations of the corrected estimate, bits ``(unit,)``, from
    the unpermuted counts ``(unit, bin, class)`` (every unit with the same number of
    samples): the limit of the shuffle mean as the number of shuffles grows. A permutation
    keeps both margins, so every cell count is hypergeometric: the plug-in's mean is the
    expected mutual information of Vinh, Epps & Bailey (2009), and the PT bias's mean takes
    each class's expected relevant-bin count (observed bins: one minus the chance a bin is
    empty; Bayesian: every histogram of the class enumerated)."""
    if correction not in ("pt", "pt_observed", "none"):
        raise ValueError(f"the exact null is defined for the 'pt', 'pt_observed' and 'none' "
                         f"corrections, not {correction!r}; use the shuffle null with QE.")
    bins = counts.sum(axis=2)  # (unit, bin)
    classes = counts.sum(axis=1)  # (unit, class)
    total = int(bins[0].sum())
    # each cell's terms depend on its two margins only: once per distinct pair
    pair = bins[:, :, None] * (total + 1) + classes[:, None, :]
    distinct, inverse = np.unique(pair, return_inverse=True)
    cell_mean, cell_empty = _cell_nulls(distinct // (total + 1), distinct % (total + 1), total)
    inverse = inverse.reshape(pair.shape)
    plugin = cell_mean[inverse].sum(axis=(1, 2)) / total
    if correction == "none":
        return plugin
    bayesian = correction == "pt"
    m = _margins(counts, bayesian)
    if bayesian:
        relevant_per_class = _expected_bayesian_counts(bins, classes)
    else:
        relevant_per_class = (1.0 - cell_empty[inverse]).sum(axis=1)  # (unit, class)
    return plugin - _pt_bias(relevant_per_class, m)


@dataclass(frozen=True)
class InformationResult:
    """Information per unit, in bits.

    Attributes:
        information: bias-corrected estimate ``(unit,)`` (after shuffle subtraction
            when shuffles were drawn).
        plugin: the plug-in estimate ``(unit,)``.
        bias: the correction's estimated bias ``(unit,)`` (plug-in minus corrected).
        shuffle_mean: mean corrected information over label permutations (over the drawn
            shuffles, or over all permutations with the exact null), or None.
        p_value: permutation p-value ``(1 + #{shuffled >= observed}) / (1 + n_shuffles)``.
        n_bins_used: response bins each unit actually used ``(unit,)``.
        degenerate: units with a single distinct response (zero information).
    """

    information: np.ndarray
    plugin: np.ndarray
    bias: np.ndarray
    shuffle_mean: np.ndarray | None = field(default=None, repr=False)
    p_value: np.ndarray | None = field(default=None, repr=False)
    n_bins_used: np.ndarray | None = field(default=None, repr=False)
    degenerate: np.ndarray | None = field(default=None, repr=False)
    null_model: str = "shuffles"


def mutual_information(
    binned,
    labels,
    *,
    correction: str = "pt",
    n_shuffles: int = 100,
    seed: int = 0,
    n_bins_used=None,
    qe_repartitions: int = 10,
    null_model: str = "shuffles",
    device="cpu",
) -> InformationResult:
    """I(R;X) in bits for already-binned responses.

    Args:
        binned: ``(unit, sample)`` integer bin codes (0..B-1).
        labels: the variable X, ``(sample,)`` shared by all units or
            ``(unit, sample)`` per unit (e.g. RF luminance classes).
        correction: ``"pt"`` (Panzeri-Treves, Bayesian count of relevant bins),
            ``"pt_observed"`` (PT with the observed non-empty bins), ``"qe"`` (quadratic
            extrapolation over ``qe_repartitions`` stratified repartitions) or ``"none"``
            (plug-in).
        n_shuffles: label permutations for shuffle subtraction and the p-value;
            0 turns both off.
        seed: seed of the permutations and of the QE sample splits.
        null_model: what the corrected estimate is taken relative to: ``"shuffles"`` subtracts
            its mean over the ``n_shuffles`` permutations; ``"exact"`` subtracts its mean
            over all permutations (:func:`_exact_null`), so no shuffles are needed for the
            estimate, and ``n_shuffles`` only gives the p-values (none when 0).
        device: ``"cpu"``, or a torch device for the GEMM of the shuffled histograms (the
            results are the same to the bit).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}; got {correction!r}.")
    if null_model not in NULLS:
        raise ValueError(f"null_model must be one of {NULLS}; got {null_model!r}.")
    if null_model == "exact" and correction == "qe":
        raise ValueError("the exact null is defined for the 'pt', 'pt_observed' and 'none' "
                         "corrections; use null_model 'shuffles' with quadratic extrapolation.")
    if n_shuffles < 0:
        raise ValueError(f"n_shuffles must be >= 0; got {n_shuffles}.")
    binned = np.asarray(binned)
    if binned.ndim != 2:
        raise ValueError(f"binned responses must be 2D (unit, sample); got shape {binned.shape}.")
    if not np.issubdtype(binned.dtype, np.integer) or (binned < 0).any():
        raise ValueError("binned responses must be non-negative integer bin codes; "
                         "use equipopulated_bins() or information() on raw responses.")
    n_units, n_samples = binned.shape
    codes, n_classes = _check_labels(labels, n_units, n_samples, "labels")
    n_bins = int(binned.max()) + 1
    rng = np.random.default_rng(seed)
    qe_parts = []
    if correction == "qe":
        if n_samples < 8:
            raise ValueError(f"quadratic extrapolation needs at least 8 samples; got {n_samples}.")
        if qe_repartitions < 1:
            raise ValueError(f"qe_repartitions must be >= 1; got {qe_repartitions}.")
        qe_parts = [(stratified_parts(codes, 2, rng), stratified_parts(codes, 4, rng))
                    for _ in range(qe_repartitions)]
    permutations = [rng.permutation(n_samples) for _ in range(n_shuffles)]

    orders = np.array([np.arange(n_samples), *permutations]).reshape(-1, n_samples)
    if correction == "qe":
        block = max(1, _UNIT_BLOCK_ELEMENTS // (n_samples * max(1, n_bins * n_classes // 8)))
    else:  # the histogram cells of every order at once: (1 + n_shuffles, unit, bin, class)
        block = max(1, _UNIT_BLOCK_ELEMENTS // (len(orders) * n_bins * n_classes))
    out = {k: np.empty(n_units) for k in ("info", "plugin", "bias", "shuffle", "exceed",
                                           "exact")}
    for start in range(0, n_units, block):
        units = slice(start, min(start + block, n_units))
        unit_codes = codes if codes.shape[0] == 1 else codes[units]
        if correction == "qe":
            parts = [tuple(p if p.shape[0] == 1 else p[units] for p in rep) for rep in qe_parts]
            estimates = _estimates_one_by_one(binned[units], n_bins, unit_codes, n_classes,
                                              correction, parts, permutations)
        else:
            estimates = _estimates_from_keys(binned[units], n_bins, unit_codes, n_classes,
                                             correction, orders, device)
        info, plugin, bias, shuffled_all = estimates
        shuffled_sum = np.zeros_like(info)
        exceed = np.zeros_like(info)
        for shuffled in shuffled_all:  # in permutation order, so the sums are reproducible
            shuffled_sum += shuffled
            exceed += shuffled >= info - 1e-12
        out["info"][units], out["plugin"][units], out["bias"][units] = info, plugin, bias
        out["shuffle"][units], out["exceed"][units] = shuffled_sum, exceed
        if null_model == "exact":
            out["exact"][units] = _exact_null(
                _joint_counts_of(binned[units], n_bins, unit_codes, n_classes), correction)

    p_value = (1.0 + out["exceed"]) / (1.0 + n_shuffles) if n_shuffles else None
    if null_model == "exact":
        shuffle_mean = out["exact"]
        information = out["info"] - shuffle_mean
    elif n_shuffles:
        shuffle_mean = out["shuffle"] / n_shuffles
        information = out["info"] - shuffle_mean
    else:
        shuffle_mean, information = None, out["info"]
    return InformationResult(
        information=information,
        plugin=out["plugin"],
        bias=out["bias"],
        shuffle_mean=shuffle_mean,
        p_value=p_value,
        n_bins_used=n_bins_used,
        degenerate=None if n_bins_used is None else np.asarray(n_bins_used) == 1,
        null_model=null_model,
    )


def information(
    responses,
    labels,
    *,
    n_bins: int = 3,
    correction: str = "pt",
    n_shuffles: int = 100,
    seed: int = 0,
    qe_repartitions: int = 10,
    null_model: str = "shuffles",
    device="cpu",
) -> InformationResult:
    """I(R;X) in bits from raw responses ``(unit, sample)``: bin, then estimate
    (:func:`mutual_information`).

    Units with a single distinct response are reported in ``degenerate`` and
    carry exactly zero information (not dropped).
    """
    binned, used = equipopulated_bins(responses, n_bins)
    return mutual_information(binned, labels, correction=correction, n_shuffles=n_shuffles,
                              seed=seed, n_bins_used=used, qe_repartitions=qe_repartitions,
                              null_model=null_model, device=device)


def conditional_information_plugin(binned, labels, given) -> np.ndarray:
    """Plug-in I(R;X|Z) = sum_z p(z) I(R;X|Z=z), bits, per unit.

    Computed directly from the ``(unit, z, bin, class)`` histogram, as an
    independent check of the chain rule I(R;X) = I(R;Z) + I(R;X|Z) when Z is a
    function of X.
    """
    binned = np.asarray(binned)
    n_units, n_samples = binned.shape
    x_codes, n_x = _check_labels(labels, n_units, n_samples, "labels")
    z_codes, n_z = _check_labels(given, n_units, n_samples, "given")
    z_codes = np.broadcast_to(z_codes, binned.shape)
    n_bins = int(binned.max()) + 1
    result = np.zeros(n_units)
    for z in range(n_z):
        in_z = z_codes == z
        # Units see class z on different samples: histogram each unit's z-slice by
        # sending samples outside z to an extra, ignored bin.
        masked_bins = np.where(in_z, binned, n_bins)
        counts = _joint_counts_of(masked_bins, n_bins + 1, x_codes, n_x)[:, :n_bins, :]
        n_z_samples = counts.sum(axis=(1, 2))
        has = n_z_samples > 0
        if has.any():
            info_z = _plugin_and_pt_bias(counts[has], bayesian=False)[0]
            result[has] += n_z_samples[has] / n_samples * info_z
    return result


@dataclass(frozen=True)
class Decomposition:
    """I(R;S) = I(R;L) + I(R;S'|L) per unit (bits), with f_high = I(R;S'|L) / I(R;S).

    ``stimulus`` and ``low_level`` are the full :class:`InformationResult` of
    I(R;S) and I(R;L); ``residual`` is their difference (bias-corrected terms,
    so the sum holds exactly); ``residual_plugin`` is the plug-in I(R;S|L)
    computed directly; ``f_high`` is NaN where I(R;S) <= 0.
    """

    stimulus: InformationResult
    low_level: InformationResult
    residual: np.ndarray
    residual_plugin: np.ndarray
    f_high: np.ndarray


def decompose(
    responses,
    stimulus,
    low_level,
    *,
    n_bins: int = 3,
    low_level_bins: int = 23,
    low_level_is_binned: bool = False,
    correction: str = "pt",
    n_shuffles: int = 100,
    seed: int = 0,
    qe_repartitions: int = 10,
    null_model: str = "shuffles",
) -> Decomposition:
    """Split stimulus information into a low-level part and the rest (Ince et al. 2012).

    Args:
        responses: ``(unit, sample)`` responses (samples = stimuli x trials).
        stimulus: ``(sample,)`` stimulus identity S.
        low_level: the low-level variable L (RF luminance or contrast), ``(sample,)``
            or per unit ``(unit, sample)``, continuous unless ``low_level_is_binned``;
            continuous values are put into ``low_level_bins`` equipopulated bins.
    """
    r = as_finite_matrix(responses, "responses", min_cols=2)
    low = np.asarray(low_level)
    if not low_level_is_binned:
        low2d = np.atleast_2d(low).astype(np.float64)
        low_codes, _ = equipopulated_bins(low2d, low_level_bins)
        low = low_codes[0] if low.ndim == 1 else low_codes
    binned, used = equipopulated_bins(r, n_bins)
    kwargs = dict(correction=correction, n_shuffles=n_shuffles, seed=seed, n_bins_used=used,
                  qe_repartitions=qe_repartitions, null_model=null_model)
    i_s = mutual_information(binned, stimulus, **kwargs)
    i_l = mutual_information(binned, low, **kwargs)
    residual = i_s.information - i_l.information
    with np.errstate(divide="ignore", invalid="ignore"):
        f_high = np.where(i_s.information > 0, residual / i_s.information, np.nan)
    return Decomposition(
        stimulus=i_s,
        low_level=i_l,
        residual=residual,
        residual_plugin=conditional_information_plugin(binned, stimulus, low),
        f_high=f_high,
    )


def luminosity_ratios(rf_luminance, objects) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Per unit and object pair: mean RF luminance of the dimmer over the brighter object.

    Returns ``ratios`` ``(unit, pair)`` and the list of object-code pairs.
    """
    lum = as_finite_matrix(np.atleast_2d(rf_luminance), "rf_luminance", min_cols=2)
    codes = as_labels(objects, "objects", lum.shape[1])
    n_objects = int(codes.max()) + 1
    means = np.stack([lum[:, codes == o].mean(axis=1) for o in range(n_objects)], axis=1)
    pairs = list(combinations(range(n_objects), 2))
    lo = np.stack([np.minimum(means[:, a], means[:, b]) for a, b in pairs], axis=1)
    hi = np.stack([np.maximum(means[:, a], means[:, b]) for a, b in pairs], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(hi > 0, lo / hi, 1.0)
    return ratios, pairs


def invariant_object_information(
    responses,
    objects,
    rf_luminance,
    *,
    thresholds=(0.9,),
    n_bins: int = 3,
    correction: str = "pt",
    n_shuffles: int = 100,
    seed: int = 0,
    qe_repartitions: int = 10,
    null_model: str = "shuffles",
    device="cpu",
) -> dict:
    """View-invariant object information per unit, averaged over object pairs.

    For each pair of objects, responses to all views of the two objects are
    pooled, binned (equipopulated within the pair) and I(R;O) is estimated
    with O binary. A unit's value at a threshold is the mean over the pairs
    whose luminosity ratio (dimmer over brighter mean RF luminance) is at
    least the threshold; NaN when no pair qualifies.

    Args:
        responses: ``(unit, sample)``.
        objects: ``(sample,)`` object identity.
        rf_luminance: ``(unit, sample)`` (or ``(sample,)``) RF luminance.
        thresholds: luminosity-ratio thresholds (0.9 by default; sweep 0..0.9).

    Returns:
        dict with ``information`` ``(unit, threshold)``, ``n_pairs``
        ``(unit, threshold)``, ``pair_information`` ``(unit, pair)``,
        ``pair_p_value`` ``(unit, pair)``, ``ratios`` ``(unit, pair)``, ``pairs``,
        ``thresholds``.
    """
    r = as_finite_matrix(responses, "responses", min_cols=2)
    codes = as_labels(objects, "objects", r.shape[1])
    lum = np.asarray(rf_luminance, dtype=np.float64)
    lum = np.broadcast_to(np.atleast_2d(lum), r.shape)
    ratios, pairs = luminosity_ratios(lum, codes)
    if not pairs:
        raise ValueError("invariant information needs at least two objects.")
    pair_info = np.empty((r.shape[0], len(pairs)))
    pair_p = np.full((r.shape[0], len(pairs)), np.nan)
    counts = np.bincount(codes)
    if (counts == counts[0]).all():
        # Equal views per object: every pair's samples can be laid out as [object a's views,
        # object b's views], so all (unit, pair) rows share one label vector and one call
        # estimates them together (the same permutations serve every pair).
        order = [np.flatnonzero(codes == o) for o in range(len(counts))]
        rows = np.concatenate([r[:, np.r_[order[a], order[b]]] for a, b in pairs])
        labels = np.repeat([0, 1], counts[0])
        result = information(rows, labels, n_bins=n_bins, correction=correction,
                             n_shuffles=n_shuffles, seed=seed, qe_repartitions=qe_repartitions,
                             null_model=null_model, device=device)
        pair_info[:] = result.information.reshape(len(pairs), -1).T
        if result.p_value is not None:
            pair_p[:] = result.p_value.reshape(len(pairs), -1).T
    else:
        for k, (a, b) in enumerate(pairs):
            in_pair = (codes == a) | (codes == b)
            result = information(r[:, in_pair], codes[in_pair], n_bins=n_bins,
                                 correction=correction, n_shuffles=n_shuffles, seed=seed + k,
                                 qe_repartitions=qe_repartitions, null_model=null_model,
                                 device=device)
            pair_info[:, k] = result.information
            if result.p_value is not None:
                pair_p[:, k] = result.p_value
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    info = np.full((r.shape[0], len(thresholds)), np.nan)
    n_pairs = np.zeros((r.shape[0], len(thresholds)), dtype=np.int64)
    for t, threshold in enumerate(thresholds):
        keep = ratios >= threshold
        n_pairs[:, t] = keep.sum(axis=1)
        with np.errstate(invalid="ignore"):
            info[:, t] = np.where(keep, pair_info, 0.0).sum(axis=1) / n_pairs[:, t]
        info[n_pairs[:, t] == 0, t] = np.nan
    return {
        "information": info,
        "n_pairs": n_pairs,
        "pair_information": pair_info,
        "pair_p_value": pair_p,
        "ratios": ratios,
        "pairs": pairs,
        "thresholds": thresholds,
    }
