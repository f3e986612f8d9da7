"""Representational similarity between two representations of the same stimuli, from their
distance matrices: linear CKA (Kornblith et al. 2019) and RSA (Kriegeskorte et al. 2008).

Working from Euclidean distances lets a network layer enter with its exact full-layer
distances (from the streamed Gram matrix) however many units it has."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def centred_gram(distances: np.ndarray) -> np.ndarray:
    """The double-centred Gram matrix -1/2 H D^2 H, equal to H X X^T H for any points X
    with these Euclidean distances."""
    d2 = np.asarray(distances, dtype=np.float64) ** 2
    row = d2.mean(axis=0, keepdims=True)
    return -0.5 * (d2 - row - row.T + d2.mean())


def linear_cka(distances_a: np.ndarray, distances_b: np.ndarray) -> float:
    """Linear CKA, tr(Ka Kb) / sqrt(tr(Ka Ka) tr(Kb Kb)) with K the centred Grams:
    1 for representations equal up to rotation, translation and scale."""
    a, b = centred_gram(distances_a), centred_gram(distances_b)
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else np.nan


def rsa(distances_a: np.ndarray, distances_b: np.ndarray) -> float:
    """Spearman correlation of the two dissimilarity matrices' upper triangles."""
    upper = np.triu_indices(len(distances_a), k=1)
    return float(spearmanr(distances_a[upper], distances_b[upper])[0])


def euclidean_distances(points: np.ndarray) -> np.ndarray:
    """Exact Euclidean distances between the rows of ``points (n, d)``, in float64."""
    x = np.asarray(points, dtype=np.float64)
    x = x - x.mean(axis=0)
    squared = (x * x).sum(axis=1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2 * x @ x.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)
