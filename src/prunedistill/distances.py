"""Exact nearest neighbours and distance matrices for wide point clouds.

Three sources of neighbours share one interface (``n_points``, ``knn``, ``subset``):

* :class:`PointCloud` holds the points themselves. Candidates come from a float32
  Gram expansion (fast BLAS), then every candidate distance is recomputed exactly
  as ``sqrt(sum((x_i - x_j)**2))`` in float64 (skipping candidates the bound below
  proves farther than k others), and a row is accepted only when a
  rounding-error bound proves no point outside its candidates can be closer.
  Rows that fail the proof are redone in float64, and rows that fail again by
  brute force on differences. The result equals a float64 ``pdist`` to rounding.
* :class:`DistanceMatrix` holds a precomputed ``(N, N)`` distance matrix.
* :class:`GramAccumulator` builds a :class:`DistanceMatrix` from feature chunks
  ``(N, d_chunk)`` of a representation too wide to hold, accumulating the
  centred Gram matrix in float64 (products of float32 values are exact there).

Exact duplicate rows are found on the data itself (a hash of each row's bytes for
chunks; an integer fingerprint of each row's bits, confirmed by comparing the rows, for
points), never from distances: a Gram expansion puts identical rows ~1e-8 apart, not 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from scipy.linalg.blas import dsyrk

from ._validation import as_finite_matrix, check_finite

# Working-set budget for one block of the candidate search (bytes).
_BLOCK_BYTES = 64 * 2**20
_REFINE_BYTES = 2 * 2**20
# Rows per block of the symmetric candidate search: small enough that the
# triangle is computed with little waste, large enough for efficient GEMMs.
_SYMMETRIC_BLOCK = 512


def resolve_device(device=None) -> str:
    """``"cuda"``/``"cpu"``: the given device, else the GPU when one is present; asking for
    CUDA without a GPU is an error.

    torch is imported only when the answer depends on it, so CPU-only work with an
    explicit ``device="cpu"`` does not pay torch's import time and memory.
    """
    if device is not None and not str(device).startswith("cuda"):
        return str(device)
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but no GPU is available; use 'cpu'.")
    return str(device)


def runs_numpy(device) -> bool:
    """Whether :func:`device_matmul` on ``device`` runs numpy: for the string ``"cpu"``
    only (a ``torch.device``, even the CPU, selects torch)."""
    return isinstance(device, str) and device == "cpu"


def device_matmul(a, b, device="cpu") -> np.ndarray:
    """``a @ b`` as numpy: with numpy when ``device`` is ``"cpu"``, else in torch on
    ``device`` (``"cuda"``, ``"cuda:1"``, or a ``torch.device``; tests pass
    ``torch.device("cpu")`` to run the torch code on the CPU). Operands already on the
    device (torch tensors, e.g. from :func:`to_device`) are used as they are; the arithmetic
    is in the operands' dtype."""
    if runs_numpy(device):
        return a @ b
    return (to_device(a, device) @ to_device(b, device)).cpu().numpy()


def to_device(array, device):
    """``array`` ready for :func:`device_matmul` on ``device``: itself on the CPU, else a
    torch tensor there (moved once, reused by every product)."""
    if runs_numpy(device):
        return array
    import torch

    if torch.is_tensor(array):
        return array.to(device)
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def unique_row_index(rows_digests: list[bytes]) -> np.ndarray:
    """Indices of the first occurrence of each distinct digest, in original order."""
    first: dict[bytes, int] = {}
    for i, digest in enumerate(rows_digests):
        first.setdefault(digest, i)
    return np.fromiter(sorted(first.values()), dtype=np.int64, count=len(first))


class RowHasher:
    """Hash of every row of a matrix fed as feature chunks ``(N, d_chunk)``.

    Two rows get the same digest exactly when their values are equal (``-0.0``
    and ``0.0`` count as equal; chunks of one matrix must share a dtype).
    """

    def __init__(self, n_rows: int):
        self._hashes = [hashlib.blake2b(digest_size=16) for _ in range(n_rows)]

    def update(self, chunk: np.ndarray) -> None:
        canonical = np.ascontiguousarray(chunk) + 0  # -0.0 -> 0.0; same dtype, same bytes
        for h, row in zip(self._hashes, canonical):
            h.update(row.data)

    def digests(self) -> list[bytes]:
        return [h.digest() for h in self._hashes]


def _sorted_knn_from_rows(d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k smallest entries per row of a distance block, ascending."""
    part = np.argpartition(d, k - 1, axis=1)[:, :k] if d.shape[1] > k else np.argsort(d, axis=1)
    values = np.take_along_axis(d, part, axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(part, order, axis=1)


class DistanceMatrix:
    """Neighbours from a precomputed symmetric ``(N, N)`` distance matrix (float64).

    ``digests`` (optional) are per-point row hashes used to find exact duplicates;
    without them, duplicates are points at distance exactly 0 from an earlier one.
    """

    def __init__(self, distances, digests: list[bytes] | None = None, *, validate=True):
        d = as_finite_matrix(distances, "distance matrix", min_rows=3) if validate else distances
        if validate:
            if d.shape[0] != d.shape[1]:
                raise ValueError(
                    f"a distance matrix must be square; got shape {d.shape}. "
                    "Pass points with `points=` instead."
                )
            if (d < 0).any():
                raise ValueError("the distance matrix has negative entries.")
            if not np.allclose(d, d.T, rtol=1e-10, atol=0):
                raise ValueError("the distance matrix is not symmetric.")
        self.distances = np.asarray(d, dtype=np.float64)
        self._digests = digests

    @property
    def n_points(self) -> int:
        return self.distances.shape[0]

    def unique_index(self) -> np.ndarray:
        if self._digests is not None:
            return unique_row_index(self._digests)
        zero = self.distances == 0
        np.fill_diagonal(zero, False)
        has_earlier_twin = np.tril(zero, k=-1).any(axis=1)
        return np.flatnonzero(~has_earlier_twin)

    def subset(self, index: np.ndarray) -> DistanceMatrix:
        sub = self.distances[np.ix_(index, index)]
        digests = None if self._digests is None else [self._digests[i] for i in index]
        return DistanceMatrix(sub, digests, validate=False)

    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Distances ``(N, k)`` and indices ``(N, k)`` of each point's k nearest others."""
        _check_k(k, self.n_points)
        d = self.distances.copy()
        np.fill_diagonal(d, np.inf)
        return _sorted_knn_from_rows(d, k)


class PointCloud:
    """Neighbours from the points ``(N, D)`` themselves, exact to float64 rounding."""

    def __init__(self, points, *, device=None, validate=True):
        x = as_finite_matrix(points, "points", min_rows=3) if validate else points
        self.device = resolve_device(device)
        raw = np.asarray(x)
        # The exact distances come from the uncentred values as given (float32 stays
        # float32, converted per gathered block: the same float64 values, half the memory
        # traffic); their differences are exact for integer data (spike counts), so ties
        # stay ties.
        self._exact = raw if raw.dtype == np.float32 else raw.astype(np.float64, copy=False)
        self._raw = raw
        # Centring removes the common offset that makes |x|^2 + |y|^2 - 2x.y cancel in the
        # candidate search. The centred float64 points are made in row blocks (for the
        # float32 search, its squared norms and the error bound) and kept whole only when
        # rows need a float64 search.
        self._mean = self._exact.mean(axis=0, dtype=np.float64)
        self._sq: np.ndarray | None = None
        self._x64: np.ndarray | None = None

    @property
    def n_points(self) -> int:
        return self._raw.shape[0]

    @property
    def n_features(self) -> int:
        return self._raw.shape[1]

    def unique_index(self) -> np.ndarray:
        """Indices of the first of each set of exactly equal rows (-0.0 equals 0.0), in
        order (:func:`distinct_rows`)."""
        return distinct_rows(np.ascontiguousarray(self._exact) + 0)[0]  # + 0: -0.0 -> 0.0

    def subset(self, index: np.ndarray) -> PointCloud:
        return PointCloud(np.asarray(self._raw)[index], device=self.device, validate=False)

    def knn(self, k: int, margin: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Exact distances ``(N, k)`` (float64) and indices ``(N, k)`` of the k nearest others."""
        n = self.n_points
        _check_k(k, n)
        n_candidates = min(k + margin, n - 1)
        approx, candidates = self._candidates(n_candidates, np.float32)
        bound = self._error_bound(np.float32)
        dist, index = self._refine(candidates, k, approx, bound)
        if n_candidates < n - 1:
            rows = np.flatnonzero(dist[:, -1] ** 2 + bound >= approx[:, -1])
            if len(rows):
                approx64, cand64 = self._candidates(n_candidates, np.float64, rows=rows)
                bound64 = self._error_bound(np.float64)[rows]
                dist[rows], index[rows] = self._refine(cand64, k, approx64, bound64, rows=rows)
                still = rows[dist[rows, -1] ** 2 + bound64 >= approx64[:, -1]]
                if len(still):
                    dist[still], index[still] = self._brute_force(still, k)
        return dist, index

    def _brute_force(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest of ``rows`` from differences with every point (no Gram)."""
        dist = np.empty((len(rows), k))
        index = np.empty((len(rows), k), dtype=np.int64)
        exact = self._exact.astype(np.float64, copy=False)
        for out, row in enumerate(rows):
            diff = exact - exact[row]
            d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            d[row] = np.inf
            values, nearest = _sorted_knn_from_rows(d[None, :], k)
            dist[out], index[out] = values[0], nearest[0]
        return dist, index

    def _centred_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` minus the column means, float64 ``(stop - start, D)``."""
        return self._exact[start:stop].astype(np.float64) - self._mean

    def _centred64(self) -> np.ndarray:
        if self._x64 is None:
            self._x64 = self._centred_rows(0, self.n_points)
        return self._x64

    def _squared_norms(self) -> np.ndarray:
        """Squared norms of the centred points, float64 ``(N,)``."""
        if self._sq is None:
            self._sq = np.empty(self.n_points)
            for start, stop in self._row_blocks():
                c = self._centred_rows(start, stop)
                self._sq[start:stop] = np.einsum("ij,ij->i", c, c)
        return self._sq

    def _row_blocks(self):
        step = max(1, _REFINE_BYTES // (8 * self.n_features))
        return [(s, min(s + step, self.n_points)) for s in range(0, self.n_points, step)]

    def _error_bound(self, dtype) -> np.ndarray:
        """Per-row upper bound on |approximate - exact| squared distance (worst case)."""
        eps = float(np.finfo(dtype).eps)
        sq = self._squared_norms()
        return (self.n_features + 8) * eps * (sq + sq.max())

    def _candidates(self, n_candidates: int, dtype, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """Approximate squared distances ``(rows, n_candidates)``, ascending, and indices of
        the nearest candidates per row."""
        if rows is None and self.device == "cpu" and dtype == np.float32:
            return _symmetric_candidates(*self._expanded_float32(), n_candidates)
        x = self._centred64().astype(dtype, copy=False)
        sq = self._squared_norms().astype(dtype)
        rows = np.arange(self.n_points) if rows is None else np.asarray(rows)
        block = max(1, _BLOCK_BYTES // (np.dtype(dtype).itemsize * self.n_points))
        if self.device != "cpu":
            return _gpu_candidates(x, sq, rows, n_candidates, self.device, block)
        out_d = np.empty((len(rows), n_candidates), dtype=np.float64)
        out_i = np.empty((len(rows), n_candidates), dtype=np.int64)
        for start in range(0, len(rows), block):
            r = rows[start : start + block]
            d2 = sq[r, None] + sq[None, :] - 2.0 * (x[r] @ x.T)
            d2[np.arange(len(r)), r] = np.inf
            out_d[start : start + len(r)], out_i[start : start + len(r)] = _sorted_knn_from_rows(
                d2, n_candidates
            )
        return out_d, out_i

    def _expanded_float32(self) -> tuple[np.ndarray, np.ndarray]:
        """``left, right (N, W)``, float32, with ``left @ right.T`` the approximate squared
        distances: rows ``[-2 x_i, |x_i|^2, 1, 0...]`` and ``[x_j, 1, |x_j|^2, 0...]`` of
        the centred points, the zero padding to a multiple of 16 suiting the BLAS kernels
        (which read ``right.T`` in place, no transposed copy)."""
        n, d = self.n_points, self.n_features
        width = -(-(d + 2) // 16) * 16
        left = np.zeros((n, width), dtype=np.float32)
        right = np.zeros((n, width), dtype=np.float32)
        sq = np.empty(n)
        for start, stop in self._row_blocks():  # one pass: centred rows and their norms
            centred = self._centred_rows(start, stop)
            sq[start:stop] = np.einsum("ij,ij->i", centred, centred)
            right[start:stop, :d] = centred
            np.multiply(right[start:stop, :d], -2.0, out=left[start:stop, :d])
        self._sq = sq
        left[:, d] = sq
        left[:, d + 1] = 1.0
        right[:, d] = 1.0
        right[:, d + 1] = sq
        return left, right

    def _refine(self, candidates, k, approx, bound, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """Exact float64 distances to the candidates; keep the k nearest, ascending.

        A candidate whose approximate squared distance exceeds the k-th candidate's by more
        than twice the error ``bound`` (per row) is provably farther than k others, so its
        exact distance is not computed.
        """
        rows = np.arange(self.n_points) if rows is None else np.asarray(rows)
        needed = approx <= approx[:, k - 1 : k] + 2.0 * np.asarray(bound)[:, None]
        pair_row, pair_col = np.nonzero(needed)
        exact = np.full(candidates.shape, np.inf)
        # Small blocks keep the gathered differences in cache.
        block = max(1, _REFINE_BYTES // (8 * self.n_features))
        for start in range(0, len(pair_row), block):
            r, c = pair_row[start : start + block], pair_col[start : start + block]
            diff = self._exact[candidates[r, c]].astype(np.float64)
            diff -= self._exact[rows[r]]
            exact[r, c] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        nearest = np.take_along_axis(candidates, order, axis=1)
        return np.take_along_axis(exact, order, axis=1), nearest


def _gpu_candidates(x, sq, rows, n_candidates, device, block):
    """Row-block candidate search on a torch device (GEMM and top-k on the GPU)."""
    import torch

    xt = torch.from_numpy(x).to(device)
    sqt = torch.from_numpy(sq).to(device)
    out_d = np.empty((len(rows), n_candidates), dtype=np.float64)
    out_i = np.empty((len(rows), n_candidates), dtype=np.int64)
    for start in range(0, len(rows), block):
        r = torch.as_tensor(rows[start : start + block], device=device)
        d2 = (sqt[r, None] + sqt[None, :]) - 2.0 * (xt[r] @ xt.T)
        d2[torch.arange(len(r), device=device), r] = float("inf")
        values, index = torch.topk(d2, n_candidates, dim=1, largest=False)
        out_d[start : start + len(r)] = values.double().cpu().numpy()
        out_i[start : start + len(r)] = index.cpu().numpy()
    return out_d, out_i


def _symmetric_candidates(left: np.ndarray, right: np.ndarray, n_candidates: int):
    """Nearest candidates of every point, computing each pair's product once.

    ``left @ right.T`` is the ``(N, N)`` matrix of approximate squared distances (see
    :meth:`PointCloud._expanded_float32`). Row block [s, e) is multiplied with the points
    from s on; the block offers candidates to its own rows (row direction) and to every
    later point (column direction), so the upper triangle suffices. Each point keeps a
    running list of its best candidates; only values below its current worst candidate
    are gathered, which after the first block are a tiny fraction, so selection costs one
    comparison pass.

    Returns approximate squared distances ``(N, n_candidates)`` (float64, ascending) and
    the candidates' indices ``(N, n_candidates)``.
    """
    n = left.shape[0]
    best_d = np.full((n, n_candidates), np.inf, dtype=left.dtype)
    best_i = np.full((n, n_candidates), -1, dtype=np.int64)
    block = max(n_candidates + 1, min(_SYMMETRIC_BLOCK, _BLOCK_BYTES // (left.itemsize * n)))
    for s in range(0, n, block):
        e = min(s + block, n)
        g = left[s:e] @ right[s:].T
        g[np.arange(e - s), np.arange(e - s)] = np.inf
        _offer(best_d, best_i, g, np.arange(s, e), s, targets_on_rows=True)
        if e < n:
            _offer(best_d, best_i, g[:, e - s :], np.arange(e, n), s, targets_on_rows=False)
    return best_d.astype(np.float64), best_i


def _offer(best_d, best_i, values, targets, first_source: int, targets_on_rows: bool) -> None:
    """Merge candidate sources into the targets' running candidate lists.

    ``values`` holds approximate squared distances between ``targets`` and the
    source points ``first_source, first_source + 1, ...``: targets on rows
    (row direction) or on columns (column direction; kept in memory order,
    never transposed, so the comparison and the gather stream through memory).
    """
    k = best_d.shape[1]
    threshold = best_d[targets, -1]
    n_sources = values.shape[1] if targets_on_rows else values.shape[0]
    if n_sources > k and np.isinf(threshold).any():
        # Lists not yet full (the first block): each target's k-th smallest offered value
        # is a threshold that keeps about k sources, found without sorting them.
        by_target = values if targets_on_rows else np.ascontiguousarray(values.T)
        threshold = np.minimum(threshold, np.partition(by_target, k - 1, axis=1)[:, k - 1])
    below = values <= (threshold[:, None] if targets_on_rows else threshold[None, :])
    if not below.any():
        return
    row, col = np.unravel_index(_sparse_flatnonzero(below), below.shape)
    tgt, src = (row, col) if targets_on_rows else (col, row)
    picked = values[tgt, src] if targets_on_rows else values[src, tgt]
    _merge(best_d, best_i, targets[tgt], picked, src + first_source)


def _sparse_flatnonzero(mask: np.ndarray) -> np.ndarray:
    """``np.flatnonzero`` for a sparse C-contiguous boolean array, ~8x faster.

    Scans the mask as 64-bit words and looks inside the few non-zero words only.
    """
    flat = mask.reshape(-1)
    n_words = len(flat) // 8
    words = flat[: n_words * 8].view(np.uint64)
    hit_words = np.flatnonzero(words)
    inside = (hit_words[:, None] * 8 + np.arange(8)).ravel()
    hits = inside[flat[inside]]
    tail = np.flatnonzero(flat[n_words * 8 :]) + n_words * 8
    return np.concatenate([hits, tail])


def _merge(best_d, best_i, target, value, source) -> None:
    """Keep, per target point, the k smallest of its list (float32 ``best_d``) and the new
    (value, source) pairs; equal values keep list entries first, then offers in order."""
    k = best_d.shape[1]
    marked = np.zeros(len(best_d), dtype=bool)
    marked[target] = True
    affected = np.flatnonzero(marked)
    point = np.concatenate([np.repeat(affected, k), target])
    dist = np.concatenate([best_d[affected].ravel(), value.astype(np.float32)])
    index = np.concatenate([best_i[affected].ravel(), source])
    # One integer key orders by point, then by value: float32 bits made monotone as
    # unsigned integers (negatives reversed, positives above them) in the low 32 bits.
    bits = dist.view(np.uint32)
    monotone = np.where(bits >> 31, ~bits, bits | np.uint32(2**31))
    key = (point.astype(np.uint64) << np.uint64(32)) | monotone
    order = np.argsort(key, kind="stable")
    point, dist, index = point[order], dist[order], index[order]
    group_start = np.searchsorted(point, affected)
    counts = np.diff(np.append(group_start, len(point)))
    rank = np.arange(len(point)) - np.repeat(group_start, counts)
    keep = rank < k  # every affected point has at least k entries (its old list)
    best_d[affected] = dist[keep].reshape(-1, k)
    best_i[affected] = index[keep].reshape(-1, k)


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a numeric matrix ``(N, D)``: ``first (n_distinct,)``, the index
    of each set of equal rows' first row, ascending, and ``inverse (N,)``, each row's set
    as a position in ``first`` (so ``rows[first][inverse]`` equals ``rows``). Rows are
    grouped by their bits, so a -0.0 keeps its row apart from an equal row with 0.0
    (harmless where equal rows only save work); add 0 first to count them equal.

    Rows are grouped by an integer fingerprint of their bits (equal bits always share
    one), and rows sharing a fingerprint are compared value by value, so the answer is
    exact. Memory beyond the fingerprints stays within a block of rows.
    """
    fingerprint = _row_fingerprints(rows)
    order = np.argsort(fingerprint, kind="stable")  # equal fingerprints stay in row order
    ordered = fingerprint[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    stops = np.r_[starts[1:], len(order)]
    representative = np.arange(len(rows))
    for start, stop in zip(starts[stops - starts > 1], stops[stops - starts > 1]):
        remaining = order[start:stop]
        while len(remaining) > 1:  # the first remaining row is the first of its set
            same = _rows_equal_to(rows, remaining, remaining[0])
            representative[remaining[same]] = remaining[0]
            remaining = remaining[~same]
    first = np.flatnonzero(representative == np.arange(len(rows)))
    return first, np.searchsorted(first, representative)


def _rows_per_block(rows: np.ndarray) -> int:
    """Rows per block for a pass over ``rows`` that copies or widens them."""
    return max(1, _BLOCK_BYTES // (8 * max(1, rows.shape[1])))


def _rows_equal_to(rows: np.ndarray, index: np.ndarray, reference: int) -> np.ndarray:
    """Whether each of ``rows[index]`` equals ``rows[reference]``, value by value:
    ``(len(index),)`` booleans."""
    step = _rows_per_block(rows)
    return np.concatenate([(rows[index[s : s + step]] == rows[reference]).all(axis=1)
                           for s in range(0, len(index), step)])


def _row_fingerprints(rows: np.ndarray) -> np.ndarray:
    """An integer fingerprint ``(N,)`` per row of a numeric matrix: the rows' bit
    patterns times fixed odd multipliers, summed modulo 2**64. Integer arithmetic is exact
    in any order, so equal bits always give equal fingerprints."""
    if rows.dtype.itemsize not in (4, 8):  # e.g. float16 or int16: widened, same values
        rows = rows.astype(np.float64 if np.issubdtype(rows.dtype, np.floating) else np.int64)
    multipliers = np.random.default_rng(0).integers(0, 2**63, size=rows.shape[1], dtype=np.uint64)
    multipliers |= np.uint64(1)
    step = _rows_per_block(rows)
    out = np.empty(len(rows), dtype=np.uint64)
    for s in range(0, len(rows), step):
        block = np.ascontiguousarray(rows[s : s + step])
        bits = block.view(np.uint32 if rows.dtype.itemsize == 4 else np.uint64)
        out[s : s + step] = np.einsum("ij,j->i", bits, multipliers)
    return out


def _centred_float64(chunk: np.ndarray) -> np.ndarray:
    """A float64 copy ``(N, d)`` of ``chunk`` centred per feature. Centring is per feature,
    so it is exact chunk by chunk and keeps the Gram sums well conditioned."""
    centred = np.asarray(chunk).astype(np.float64)
    centred -= centred.mean(axis=0)
    return centred


def _add_centred_gram(gram: np.ndarray, chunk: np.ndarray) -> None:
    """Add the Gram matrix of ``chunk`` ``(N, d)``, centred per feature in float64, to the
    upper triangle of the Fortran-ordered float64 ``gram`` ``(N, N)``, in place."""
    centred = _centred_float64(chunk)
    # syrk on the (d, N) Fortran view computes C += A^T A (upper triangle): half the flops
    # of a GEMM, and compute-bound once N is a few hundred.
    dsyrk(1.0, centred.T, beta=1.0, c=gram, trans=1, overwrite_c=1)


def _symmetric_from_upper(g: np.ndarray) -> np.ndarray:
    """The symmetric C-ordered matrix whose upper triangle is that of ``g`` ``(N, N)``."""
    return np.ascontiguousarray(np.triu(g) + np.triu(g, k=1).T)


class GramAccumulator:
    """Exact distance matrix of N points from chunks of their features.

    Feed ``update(chunk)`` with arrays ``(N, d_chunk)`` covering disjoint feature
    sets; the full ``(N, D)`` matrix is never held. Each chunk is centred per
    feature (centring is per feature, so it is exact chunk by chunk) and its
    Gram matrix is added in float64. Row hashes are accumulated alongside, so
    exact duplicate points are known without another pass.

    Memory: one ``(N, N)`` float64 matrix plus one chunk in float64.
    """

    def __init__(self, n_points: int, *, device=None):
        if n_points < 3:
            raise ValueError(f"need at least 3 points for distances; got {n_points}.")
        self.n_points = n_points
        self.n_features = 0
        self.device = resolve_device(device)
        self._hasher = RowHasher(n_points)
        if self.device != "cpu":
            import torch

            self._gram = torch.zeros((n_points, n_points), dtype=torch.float64, device=self.device)
        else:
            self._gram = np.zeros((n_points, n_points), dtype=np.float64, order="F")

    def update(self, chunk) -> None:
        """Add a feature chunk ``(N, d_chunk)`` (numpy array or torch tensor)."""
        if hasattr(chunk, "detach"):  # a torch tensor
            chunk = chunk.detach().cpu().numpy()
        chunk = np.asarray(chunk)
        if chunk.ndim != 2 or chunk.shape[0] != self.n_points:
            raise ValueError(
                f"each feature chunk must have shape ({self.n_points}, d_chunk); got "
                f"{chunk.shape}. Chunks split the features (columns), not the points."
            )
        check_finite(chunk, "feature chunk")
        self._hasher.update(chunk)
        if self.device != "cpu":
            import torch

            c = torch.from_numpy(_centred_float64(chunk)).to(self.device)
            self._gram += c @ c.T
        else:
            _add_centred_gram(self._gram, chunk)
        self.n_features += chunk.shape[1]

    def gram(self) -> np.ndarray:
        """The centred Gram matrix ``(N, N)``, float64."""
        if not isinstance(self._gram, np.ndarray):
            return self._gram.cpu().numpy()
        return _symmetric_from_upper(self._gram)

    def distance_matrix(self) -> DistanceMatrix:
        """Euclidean distances ``(N, N)`` with exact-duplicate information attached."""
        if self.n_features == 0:
            raise ValueError("no feature chunks were added.")
        return _distances_from_gram(self.gram(), self._hasher.digests())


def _distances_from_gram(g: np.ndarray, digests: list[bytes]) -> DistanceMatrix:
    sq = np.diag(g)
    d2 = sq[:, None] + sq[None, :] - 2.0 * g
    np.maximum(d2, 0.0, out=d2)
    d = np.sqrt(d2)
    d = (d + d.T) / 2.0
    np.fill_diagonal(d, 0.0)
    return DistanceMatrix(d, digests, validate=False)


class StreamingGram:
    """Exact distance matrix of N points whose rows arrive as batches, in order.

    A network's layer arrives a few stimuli at a time, all units at once. Each batch is
    checked and its rows hashed (exact-duplicate detection) as it arrives; the caller
    writes the rows to ``rows_source``, which :meth:`gram` reads back once all N have
    arrived, ``read_width`` columns at a time (``rows_source[:, a:b] -> (N, b - a)``, e.g.
    the zarr array the batches were written to; default: one float64
    block). Each read is cut into blocks of about ``block_bytes`` as float64, each block is
    centred per feature and its Gram matrix added to a float64 one as a symmetric rank-k
    update. Every row is read once and the products are compute-bound; products of each
    new batch with all earlier rows re-read those rows once per batch and were bound by
    memory. The sums depend only on N, the widths and the values, not on the source.

    Memory: the ``(N, N)`` float64 matrix, one read (``N x read_width`` as the source
    returns it) and one float64 block.
    """

    def __init__(self, n_points: int, rows_source, *, block_bytes: int | None = None,
                 read_width: int | None = None):
        if n_points < 3:
            raise ValueError(f"need at least 3 points for distances; got {n_points}.")
        self.n_points = n_points
        self.n_rows = 0
        self.n_features: int | None = None
        self._source = rows_source
        block_bytes = _BLOCK_BYTES if block_bytes is None else block_bytes
        self._block_width = max(1, block_bytes // (8 * n_points))
        self._read_width = read_width or self._block_width
        self._digests: list[bytes] = []
        self._gram: np.ndarray | None = None

    def update(self, batch) -> None:
        """Check and hash the next rows ``(b, D)``; all N rows must be readable from the
        source by the time :meth:`gram` is called."""
        if hasattr(batch, "detach"):
            batch = batch.detach().cpu().numpy()
        batch = np.asarray(batch)
        if batch.ndim != 2:
            raise ValueError(f"a batch of rows must be 2D (rows, features); got {batch.shape}.")
        if self.n_rows + batch.shape[0] > self.n_points:
            raise ValueError(f"more than the {self.n_points} rows announced were added.")
        if self.n_features is None:
            self.n_features = batch.shape[1]
        elif batch.shape[1] != self.n_features:
            raise ValueError(f"rows have {batch.shape[1]} features; earlier ones had "
                             f"{self.n_features}.")
        check_finite(batch, "rows")
        canonical = np.ascontiguousarray(batch) + 0  # -0.0 -> 0.0
        self._digests += [hashlib.blake2b(row.data, digest_size=16).digest() for row in canonical]
        self.n_rows += batch.shape[0]

    def gram(self) -> np.ndarray:
        """The Gram matrix ``(N, N)`` of the rows centred per feature, float64."""
        if self.n_rows != self.n_points:
            raise ValueError(f"only {self.n_rows} of {self.n_points} rows were added.")
        if self._gram is None:
            gram = np.zeros((self.n_points, self.n_points), dtype=np.float64, order="F")
            step = self._block_width
            for first in range(0, self.n_features, self._read_width):
                columns = self._source[:, first:first + self._read_width]
                for block in range(0, columns.shape[1], step):
                    _add_centred_gram(gram, columns[:, block:block + step])
            self._gram = _symmetric_from_upper(gram)
        return self._gram

    def distance_matrix(self) -> DistanceMatrix:
        """Euclidean distances ``(N, N)`` with exact-duplicate information attached."""
        return _distances_from_gram(self.gram(), list(self._digests))

    def digests(self) -> list[bytes]:
        return list(self._digests)


def distances_from_chunks(chunks: Iterable, *, device=None) -> DistanceMatrix:
    """Distance matrix of N points from an iterable of feature chunks ``(N, d_chunk)``."""
    accumulator = None
    for chunk in chunks:
        if accumulator is None:
            accumulator = GramAccumulator(np.shape(chunk)[0], device=device)
        accumulator.update(chunk)
    if accumulator is None:
        raise ValueError("the iterator of feature chunks was empty.")
    return accumulator.distance_matrix()


def _check_k(k: int, n_points: int) -> None:
    if not 1 <= k <= n_points - 1:
        raise ValueError(
            f"cannot find {k} neighbours among {n_points} points; need at least {k + 1} points."
        )
