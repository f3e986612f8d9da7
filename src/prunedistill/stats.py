"""Statistics shared by every analysis: Holm correction, the bootstrap SE of a median, the
one-sided rank test with its effect size, and a permutation test of a correlation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import mannwhitneyu
from scipy.stats import t as student_t


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def holm_finite(p_values: Sequence[float]) -> np.ndarray:
    """Holm over the finite p-values only; NaN entries (tests that could not run) stay NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    finite = np.isfinite(p)
    adjusted = np.full(len(p), np.nan)
    adjusted[finite] = holm(p[finite])
    return adjusted


def bootstrap_median_se(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> float:
    """Standard error of the median by bootstrap over the values (NaNs ignored); NaN for
    fewer than two finite values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return np.nan
    rng = np.random.default_rng(seed)
    samples = values[rng.integers(0, len(values), size=(n_boot, len(values)))]
    return float(np.median(samples, axis=1).std(ddof=1))


def one_sided_rank_test(first: np.ndarray, second: np.ndarray, alternative: str) -> dict:
    """Mann-Whitney U of ``first`` vs ``second`` in the direction ``alternative``
    ("less" or "greater"): ``U`` (the first sample's statistic), ``p`` and the rank-biserial
    effect size 2 U / (n1 n2) - 1 (+1 when every value of ``first`` is above every value of
    ``second``). NaN for samples of fewer than two values."""
    if len(first) < 2 or len(second) < 2:
        return {"U": np.nan, "p": np.nan, "effect_size": np.nan}
    result = mannwhitneyu(first, second, alternative=alternative)
    effect = 2 * result.statistic / (len(first) * len(second)) - 1
    return {"U": float(result.statistic), "p": float(result.pvalue), "effect_size": float(effect)}


def one_sided_welch_test(first: np.ndarray, second: np.ndarray, alternative: str) -> dict:
    """Welch's unequal-variance t-test of ``first`` vs ``second`` in the direction
    ``alternative`` ("less" or "greater"): ``t``, ``df`` (Welch-Satterthwaite) and ``p``.
    NaN for fewer than two finite values on a side, or no variance beyond rounding in
    either."""
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    first, second = first[np.isfinite(first)], second[np.isfinite(second)]
    nan = {"t": np.nan, "df": np.nan, "p": np.nan}
    if len(first) < 2 or len(second) < 2:
        return nan
    v1, v2 = first.var(ddof=1) / len(first), second.var(ddof=1) / len(second)
    scale = max(np.abs(first).max(), np.abs(second).max(), 1e-300)
    if v1 + v2 <= (1e-12 * scale) ** 2:  # identical groups up to rounding: no test
        return nan
    t = (first.mean() - second.mean()) / np.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 ** 2 / (len(first) - 1) + v2 ** 2 / (len(second) - 1))
    p = student_t.sf(t, df) if alternative == "greater" else student_t.cdf(t, df)
    return {"t": float(t), "df": float(df), "p": float(p)}


def instance_permutation_test(first: np.ndarray, second: np.ndarray, alternative: str
                              ) -> float:
    """Exact one-sided permutation p-value of the difference of means (``first`` minus
    ``second``) over every relabelling of the pooled values into groups of the same sizes;
    its smallest value is 1 / C(n1 + n2, n1). NaN for an empty or non-finite group, or more
    than 10^5 relabellings."""
    from itertools import combinations
    from math import comb

    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    n1, pooled = len(first), np.concatenate([first, second])
    if not n1 or not len(second) or not np.all(np.isfinite(pooled)) \
            or comb(len(pooled), n1) > 100_000:
        return np.nan
    sign = 1.0 if alternative == "greater" else -1.0
    total = pooled.sum()

    def statistic(chosen_sum: float) -> float:
        return sign * (chosen_sum / n1 - (total - chosen_sum) / len(second))

    observed = statistic(first.sum())
    values = [statistic(pooled[list(c)].sum()) for c in combinations(range(len(pooled)), n1)]
    return float(np.mean(np.asarray(values) >= observed - 1e-12))


def correlation_permutation_test(x, y, *, n_permutations: int = 10_000, seed: int = 0) -> dict:
    """Pearson r of paired values with a two-sided permutation p-value (``y`` shuffled),
    ``(1 + #{|r_perm| >= |r|}) / (1 + n_permutations)``, over the pairs where both are
    finite. NaN r and p for fewer than three pairs or a constant variable."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"need paired 1D values; got shapes {x.shape} and {y.shape}.")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return {"r": np.nan, "p": np.nan, "n": int(len(x))}
    r = float(np.corrcoef(x, y)[0, 1])
    rng = np.random.default_rng(seed)
    permuted = np.array([np.corrcoef(x, rng.permutation(y))[0, 1]
                         for _ in range(n_permutations)])
    p = (1 + np.sum(np.abs(permuted) >= abs(r) - 1e-12)) / (1 + n_permutations)
    return {"r": r, "p": float(p), "n": int(len(x))}
