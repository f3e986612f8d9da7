"""Single-unit and population decoders on planted data."""

import numpy as np
import pytest

from prunedistill.decoding import (
    confusion_information,
    fit_thresholds,
    population_decoding,
    predict_thresholds,
    single_unit_decoding,
)


def planted(n_objects=4, n_views=12, n_units=30, separation=3.0, seed=0):
    rng = np.random.default_rng(seed)
    objects = np.repeat(np.arange(n_objects), n_views)
    views = np.tile(np.arange(n_views), n_objects)
    means = rng.standard_normal((n_units, n_objects)) * separation
    responses = means[:, objects] + rng.standard_normal((n_units, len(objects)))
    return responses, objects, views


def test_confusion_information_exact_values():
    true = np.array([0, 0, 1, 1])
    assert confusion_information(true, true) == pytest.approx(1.0)
    assert confusion_information(true, 1 - true) == pytest.approx(1.0)
    assert confusion_information(true, np.array([0, 1, 0, 1])) == pytest.approx(0.0)
    assert confusion_information(true, np.zeros(4, dtype=int)) == pytest.approx(0.0)


def test_threshold_decoder_finds_the_best_split():
    responses = np.array([[1.0, 2.0, 3.0, 10.0, 11.0, 12.0], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    threshold, sign = fit_thresholds(responses, labels)
    np.testing.assert_allclose(threshold, [6.5, 2.5])
    np.testing.assert_array_equal(sign, [1, -1])
    np.testing.assert_array_equal(predict_thresholds(responses, threshold, sign), [labels, labels])


def test_single_units_beat_chance_only_when_tuned():
    responses, objects, views = planted()
    tuned = single_unit_decoding(responses, objects, views, n_shuffles=5)
    assert np.median(tuned.percent_correct) > 75
    assert np.median(tuned.chance_percent_correct) < 60
    noise = np.random.default_rng(1).standard_normal(responses.shape)
    flat = single_unit_decoding(noise, objects, views, n_shuffles=5)
    assert abs(np.median(flat.percent_correct) - 50) < 8
    general = single_unit_decoding(responses, objects, views, protocol="generalisation",
                                   n_shuffles=2)
    assert np.median(general.percent_correct) > 65


def test_population_decoder_beats_chance_and_shuffles_do_not():
    responses, objects, views = planted(separation=0.6)
    result = population_decoding(responses, objects, views, sizes=(6, 24, 100), n_resamples=4)
    assert result.percent_correct[1] > 85
    assert result.percent_correct[1] >= result.percent_correct[0] - 5
    assert np.all(np.abs(result.chance_percent_correct[:2] - 50) < 15)
    assert result.information[1] > result.chance_information[1] + 0.3
    assert np.isnan(result.percent_correct[2])  # more units than exist
    general = population_decoding(responses, objects, views, sizes=(24,), n_resamples=3,
                                  protocol="generalisation")
    assert general.percent_correct[0] > 70


def _svm_objective(w, x, y):
    xt = np.c_[x, np.ones(len(x))]
    slack = np.maximum(0, 1 - np.where(y > 0, 1, -1) * (xt @ w))
    return 0.5 * w @ w + (slack ** 2).sum()


@pytest.mark.parametrize("n_features", [5, 90])  # primal path, and the n x n kernel path
def test_batched_svms_reach_the_liblinear_minimum(n_features):
    from sklearn.svm import LinearSVC

    from prunedistill.decoding import fit_linear_svms

    rng = np.random.default_rng(3)
    n_problems, n_samples = 12, 40
    x = rng.normal(size=(n_problems, n_samples, n_features))
    y = (rng.random((n_problems, n_samples)) < 0.5).astype(int)
    x[:, :, 0] += 1.5 * y
    mask = np.ones((n_problems, n_samples), dtype=bool)
    mask[::2, 30:] = False  # padding rows must be ignored
    x[~mask] = 1e3  # ... whatever they hold
    weights = fit_linear_svms(x, y, mask)
    for p in range(n_problems):
        keep = mask[p]
        reference = LinearSVC(C=1.0, dual="auto", tol=1e-10, max_iter=100_000,
                              random_state=0).fit(x[p, keep], y[p, keep])
        w_ref = np.r_[reference.coef_[0], reference.intercept_]
        ours = _svm_objective(weights[p], x[p, keep], y[p, keep])
        assert ours <= _svm_objective(w_ref, x[p, keep], y[p, keep]) + 1e-9
        np.testing.assert_allclose(weights[p], w_ref, atol=1e-4)


@pytest.mark.parametrize("n_features", [5, 90])
def test_packing_the_training_samples_reaches_the_same_svms(n_features):
    """The separability protocol fits each SVM on its training samples packed to the front
    (test samples dropped); the minimiser is the one of the padded problem, and problems
    that converge early stop while the others go on."""
    from prunedistill.decoding import fit_linear_svms

    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 60, n_features))
    y = (rng.random((20, 60)) < 0.5).astype(int)
    x[:, :, 0] += np.linspace(0.2, 4, 20)[:, None] * y  # problems of every difficulty
    train = rng.random((20, 60)) < 0.8
    padded = fit_linear_svms(x, y, train)
    order = np.argsort(~train, axis=1, kind="stable")[:, :train.sum(axis=1).max()]
    packed = fit_linear_svms(np.take_along_axis(x, order[:, :, None], 1),
                             np.take_along_axis(y, order, 1), np.take_along_axis(train, order, 1))
    np.testing.assert_allclose(packed, padded, rtol=0, atol=1e-9)
    for p in range(20):
        objective = _svm_objective(packed[p], x[p, train[p]], y[p, train[p]])
        assert objective <= _svm_objective(padded[p], x[p, train[p]], y[p, train[p]]) + 1e-12


def test_population_decoding_of_unequal_objects_scores_every_pair_on_its_own_samples():
    """Objects with 30, 20 and 25 samples: pairs of unequal size take the per-pair path.
    Clusters far apart decode perfectly, so each pair carries its label entropy."""
    rng = np.random.default_rng(24)
    counts = (30, 20, 25)
    objects = np.repeat(np.arange(3), counts)
    views = np.concatenate([np.arange(c) for c in counts])
    centres = rng.standard_normal((20, 3)) * 50
    responses = centres[:, objects] + rng.standard_normal((20, len(objects)))
    result = population_decoding(responses, objects, views, sizes=(12,), n_resamples=2)

    def entropy(a, b):
        p = a / (a + b)
        return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))

    expected = np.mean([entropy(30, 20), entropy(30, 25), entropy(20, 25)])
    assert result.percent_correct[0] == 100.0
    assert result.information[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("protocol", ["separability", "generalisation"])
def test_population_decoding_matches_one_liblinear_svm_per_pair_and_fold(protocol):
    """The batched path (training samples packed, moments from them, test samples scored
    on their own) against the protocol written out: per pair and fold, z-score on the
    training samples (only centre with one sample per object), fit scikit-learn's
    LinearSVC, predict the test samples; the same random draws (units, shuffled labels,
    folds) in the same order."""
    from sklearn.svm import LinearSVC

    from prunedistill.decoding import _folds, _pairs, confusion_information

    rng = np.random.default_rng(11)
    n_objects, n_views, n_units, size = 4, 8, 30, 8
    objects = np.repeat(np.arange(n_objects), n_views)
    views = np.tile(np.arange(n_views), n_objects)
    responses = (rng.normal(size=(n_units, n_objects))[:, objects]
                 + 2.5 * rng.normal(size=(n_units, len(objects))))
    result = population_decoding(responses, objects, views, sizes=(size,), n_resamples=1,
                                 protocol=protocol, train_view=3, seed=5)

    draws = np.random.default_rng(5)
    x = responses[draws.choice(n_units, size=size, replace=False)].T
    shuffled = objects.copy()
    for view in np.unique(views):
        where = np.flatnonzero(views == view)
        shuffled[where] = draws.permutation(objects[where])
    scores = []
    for labels_of in (objects, shuffled):
        correct, bits = [], []
        for a, b in _pairs(labels_of):
            in_pair = np.flatnonzero((labels_of == a) | (labels_of == b))
            truth = (labels_of[in_pair] == b).astype(int)
            if protocol == "separability":
                folds = _folds(truth, 5, draws)
                splits = [folds != f for f in range(5)]
            else:
                splits = [views[in_pair] == 3]
            predicted = np.zeros(len(in_pair), dtype=int)
            for train in splits:
                xs = x[in_pair]
                mean = xs[train].mean(axis=0)
                std = xs[train].std(axis=0) if train.sum() > 2 else np.ones(size)
                z = (xs - mean) / std
                svm = LinearSVC(C=1.0, dual="auto", tol=1e-12, max_iter=100_000,
                                random_state=0).fit(z[train], truth[train])
                predicted[~train] = svm.predict(z[~train])
            tested = ~splits[0] if len(splits) == 1 else np.ones(len(in_pair), dtype=bool)
            correct.append((predicted[tested] == truth[tested]).mean())
            bits.append(confusion_information(truth[tested], predicted[tested]))
        scores.append((100 * np.mean(correct), np.mean(bits)))
    assert 55 < scores[0][0] < 98  # errors to get right, and signal
    np.testing.assert_allclose([result.percent_correct[0], result.chance_percent_correct[0]],
                               [scores[0][0], scores[1][0]], rtol=0, atol=1e-12)
    np.testing.assert_allclose([result.information[0], result.chance_information[0]],
                               [scores[0][1], scores[1][1]], rtol=0, atol=1e-12)
