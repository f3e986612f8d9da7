"""Invariant object discrimination: single-unit and population decoders (SCIENCE.md 5).

Two protocols per object pair, on the responses to all views of the two objects:

* *linear separability*: 5-fold cross-validation over all views (folds stratified by
  object, seeded);
* *generalisation*: train on one view per object, test on every other view.

Single units use a 1D threshold decoder (the best threshold and sign on the training data);
populations a linear SVM (C = 1) on N units drawn at random, resampled (features z-scored on the training data; only centred when training on a
single view). Performance is percent correct and the mutual information between true and
predicted labels (plug-in, from the confusion matrix pooled over folds), in bits; chance is
the same pipeline on shuffled object labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ._validation import as_finite_matrix, as_labels


def confusion_information(true: np.ndarray, predicted: np.ndarray, n_classes: int = 2
                          ) -> np.ndarray:
    """Plug-in I(true; predicted) in bits from labels ``(..., samples)`` (leading axes are
    batches, e.g. units)."""
    true = np.broadcast_to(true, predicted.shape)
    flat = (true * n_classes + predicted).reshape(-1, true.shape[-1])
    counts = np.zeros((flat.shape[0], n_classes * n_classes))
    np.add.at(counts, (np.arange(flat.shape[0])[:, None], flat), 1)
    joint = counts.reshape(-1, n_classes, n_classes) / true.shape[-1]
    outer = joint.sum(axis=2, keepdims=True) * joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log2(joint / outer), 0.0)
    return terms.sum(axis=(1, 2)).reshape(predicted.shape[:-1])


def fit_thresholds(responses: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best threshold and sign per unit for binary ``labels (samples,)``.

    ``responses (units, samples)``; the decoder predicts 1 when ``sign * (r - threshold) >
    0``. Thresholds are midpoints between consecutive distinct sorted responses (or below
    the smallest), chosen to maximise training accuracy; ties go to the first.
    """
    order = np.argsort(responses, axis=1, kind="stable")
    values = np.take_along_axis(responses, order, axis=1)
    ones = labels[order]  # (units, samples)
    n = responses.shape[1]
    n_ones = ones.sum(axis=1, keepdims=True)
    ones_below = np.concatenate([np.zeros((len(ones), 1)), np.cumsum(ones, axis=1)], axis=1)
    zeros_below = np.arange(n + 1)[None] - ones_below
    # split k puts samples [0, k) below the threshold
    correct_up = zeros_below + (n_ones - ones_below)        # predict 1 above
    correct_down = ones_below + (n - n_ones - zeros_below)  # predict 1 below
    valid = np.ones((len(ones), n + 1), dtype=bool)
    valid[:, 1:n] = values[:, 1:] > values[:, :-1]
    best_up = np.where(valid, correct_up, -1).argmax(axis=1)
    best_down = np.where(valid, correct_down, -1).argmax(axis=1)
    up = (np.take_along_axis(correct_up, best_up[:, None], 1)
          >= np.take_along_axis(correct_down, best_down[:, None], 1))[:, 0]
    split = np.where(up, best_up, best_down)
    padded = np.concatenate([values[:, :1] - 1.0, values, values[:, -1:] + 1.0], axis=1)
    threshold = (np.take_along_axis(padded, split[:, None], 1)
                 + np.take_along_axis(padded, split[:, None] + 1, 1))[:, 0] / 2
    return threshold, np.where(up, 1.0, -1.0)


def predict_thresholds(responses: np.ndarray, threshold: np.ndarray, sign: np.ndarray
                       ) -> np.ndarray:
    return (sign[:, None] * (responses - threshold[:, None]) > 0).astype(np.int64)


def _folds(labels: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index per sample, stratified by label."""
    folds = np.empty(len(labels), dtype=np.int64)
    for value in np.unique(labels):
        where = rng.permutation(np.flatnonzero(labels == value))
        folds[where] = np.arange(len(where)) % n_folds
    return folds


@dataclass
class DecodingResult:
    """Per unit (single) or per population size (population), averaged over object pairs:
    ``percent_correct``, ``information`` (bits), and their shuffled-label chance levels."""

    percent_correct: np.ndarray
    information: np.ndarray
    chance_percent_correct: np.ndarray
    chance_information: np.ndarray


def _pairs(objects: np.ndarray):
    return list(combinations(range(int(objects.max()) + 1), 2))


def _single_unit_scores(r, objects, views, protocol, n_folds, rng, train_views):
    n_units = r.shape[0]
    pairs = _pairs(objects)
    correct = np.zeros((n_units, len(pairs)))
    info = np.zeros((n_units, len(pairs)))
    for k, (a, b) in enumerate(pairs):
        in_pair = np.flatnonzero((objects == a) | (objects == b))
        labels = (objects[in_pair] == b).astype(np.int64)
        responses = r[:, in_pair]
        if protocol == "separability":
            folds = _folds(labels, n_folds, rng)
            predicted = np.empty_like(responses, dtype=np.int64)
            for fold in range(n_folds):
                train, test = folds != fold, folds == fold
                threshold, sign = fit_thresholds(responses[:, train], labels[train])
                predicted[:, test] = predict_thresholds(responses[:, test], threshold, sign)
            correct[:, k] = (predicted == labels).mean(axis=1)
            info[:, k] = confusion_information(labels, predicted)
        else:
            pair_views = views[in_pair]
            scores, bits = [], []
            for view in train_views:
                train = pair_views == view
                if train.sum() != 2:
                    continue
                threshold, sign = fit_thresholds(responses[:, train], labels[train])
                predicted = predict_thresholds(responses[:, ~train], threshold, sign)
                scores.append((predicted == labels[~train]).mean(axis=1))
                bits.append(confusion_information(labels[~train], predicted))
            correct[:, k], info[:, k] = np.mean(scores, axis=0), np.mean(bits, axis=0)
    return 100 * correct.mean(axis=1), info.mean(axis=1)


def _check(responses, objects, views):
    r = as_finite_matrix(responses, "responses", min_cols=4)
    objects = as_labels(objects, "objects", r.shape[1])
    views = as_labels(views, "views", r.shape[1])
    if objects.max() < 1:
        raise ValueError("decoding needs at least two objects.")
    return r, objects, views


def single_unit_decoding(responses, objects, views, *, protocol: str = "separability",
                         n_folds: int = 5, train_views=None, n_shuffles: int = 10,
                         seed: int = 0) -> DecodingResult:
    """Threshold decoders per unit, averaged over object pairs: ``(units,)`` arrays.

    ``responses (units, samples)``; ``objects`` and ``views`` ``(samples,)`` label each
    sample's object and view. ``protocol``: "separability" or "generalisation" (training
    views: ``train_views``, default every view, averaged).
    """
    if protocol not in ("separability", "generalisation"):
        raise ValueError(f"protocol must be 'separability' or 'generalisation'; got {protocol!r}.")
    r, objects, views = _check(responses, objects, views)
    train_views = np.unique(views) if train_views is None else np.atleast_1d(train_views)
    rng = np.random.default_rng(seed)
    pc, bits = _single_unit_scores(r, objects, views, protocol, n_folds, rng, train_views)
    chance_pc, chance_bits = np.zeros_like(pc), np.zeros_like(bits)
    for _ in range(n_shuffles):
        shuffled = objects.copy()
        for view in np.unique(views):  # permute object labels within each view
            where = np.flatnonzero(views == view)
            shuffled[where] = rng.permutation(objects[where])
        s_pc, s_bits = _single_unit_scores(r, shuffled, views, protocol, n_folds, rng,
                                           train_views)
        chance_pc += s_pc / n_shuffles
        chance_bits += s_bits / n_shuffles
    return DecodingResult(pc, bits, chance_pc, chance_bits)


def _svm_scores(x, objects, views, protocol, n_folds, rng, train_view):
    from sklearn.svm import LinearSVC

    pairs = _pairs(objects)
    correct, bits = [], []
    for a, b in pairs:
        in_pair = np.flatnonzero((objects == a) | (objects == b))
        labels = (objects[in_pair] == b).astype(np.int64)
        features = x[in_pair]
        if protocol == "separability":
            folds = _folds(labels, n_folds, rng)
            splits = [(folds != f, folds == f) for f in range(n_folds)]
        else:
            train = views[in_pair] == train_view
            splits = [(train, ~train)]
        predicted = np.empty(len(labels), dtype=np.int64)
        tested = np.zeros(len(labels), dtype=bool)
        for train, test in splits:
            mean = features[train].mean(axis=0)
            # z-score on the training data; with one training sample per object a per-feature
            # std is meaningless (it only measures that pair), so then only centre.
            std = features[train].std(axis=0) if train.sum() > 2 else np.ones(features.shape[1])
            std[std == 0] = 1.0
            model = LinearSVC(C=1.0, dual="auto", max_iter=10_000)
            model.fit((features[train] - mean) / std, labels[train])
            predicted[test] = model.predict((features[test] - mean) / std)
            tested |= test
        correct.append((predicted[tested] == labels[tested]).mean())
        bits.append(float(confusion_information(labels[tested], predicted[tested])))
    return 100 * float(np.mean(correct)), float(np.mean(bits))


def population_decoding(responses, objects, views, *, sizes=(6, 12, 24, 48, 96),
                        n_resamples: int = 50, protocol: str = "separability",
                        n_folds: int = 5, train_view=None, seed: int = 0) -> DecodingResult:
    """Linear SVMs on random populations: arrays ``(len(sizes),)`` of the mean over
    resamples and object pairs. Sizes larger than the number of units are skipped (NaN).
    Chance: one shuffled-label run per resample. ``train_view`` (generalisation) defaults to
    the first view."""
    if protocol not in ("separability", "generalisation"):
        raise ValueError(f"protocol must be 'separability' or 'generalisation'; got {protocol!r}.")
    r, objects, views = _check(responses, objects, views)
    train_view = views.min() if train_view is None else train_view
    rng = np.random.default_rng(seed)
    out = np.full((4, len(sizes)), np.nan)
    for s, size in enumerate(sizes):
        if size > r.shape[0]:
            continue
        runs = []
        for _ in range(n_resamples):
            units = rng.choice(r.shape[0], size=size, replace=False)
            x = r[units].T
            shuffled = objects.copy()
            for view in np.unique(views):
                where = np.flatnonzero(views == view)
                shuffled[where] = rng.permutation(objects[where])
            runs.append(_svm_scores(x, objects, views, protocol, n_folds, rng, train_view)
                        + _svm_scores(x, shuffled, views, protocol, n_folds, rng, train_view))
        out[:, s] = np.mean(runs, axis=0)
    return DecodingResult(out[0], out[1], out[2], out[3])
