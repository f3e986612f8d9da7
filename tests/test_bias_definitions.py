"""The published definitions of the bias corrections: Panzeri & Treves's Bayesian count of
relevant bins, and quadratic extrapolation averaged over stratified repartitions."""

import numpy as np
import pytest

from prunedistill.information import (
    bayesian_relevant_bins,
    equipopulated_bins,
    information,
    mutual_information,
    stratified_parts,
)


def test_relevant_bins_of_full_empty_and_well_sampled_histograms():
    assert bayesian_relevant_bins(np.array([5, 3, 2])) == 3  # every bin seen
    assert bayesian_relevant_bins(np.array([0, 0, 0])) == 0  # no samples
    # 1,000 samples and an empty bin: that bin has (near) zero probability, not relevant
    assert bayesian_relevant_bins(np.array([600, 400, 0])) == 2
    # vectorised over leading axes
    counts = np.array([[[5, 3, 2], [600, 400, 0]]])
    np.testing.assert_array_equal(bayesian_relevant_bins(counts), [[3, 2]])


def test_sparse_samples_of_a_uniform_distribution_count_unseen_bins():
    """Draws of 4 samples from 3 equiprobable bins often miss one: the observed count is
    biased low; the Bayesian count is closer to the true 3 on average."""
    rng = np.random.default_rng(0)
    counts = np.stack([np.bincount(rng.integers(0, 3, 4), minlength=3) for _ in range(4000)])
    observed = (counts > 0).sum(axis=1)
    bayesian = bayesian_relevant_bins(counts)
    assert (bayesian >= observed).all()
    assert abs(bayesian.mean() - 3) < abs(observed.mean() - 3)
    assert (bayesian[observed < 3] > observed[observed < 3]).mean() > 0.5


def test_bayesian_pt_corrects_the_bias_of_uninformative_units_better():
    """Responses independent of 23 classes, 100 samples: the true information is 0, so the
    mean plug-in value is the bias. PT with the Bayesian count removes more of it than PT
    with the observed bins (which under-corrects where classes have few samples)."""
    rng = np.random.default_rng(1)
    responses = rng.standard_normal((3000, 100))
    labels = rng.integers(0, 23, 100)
    bayesian = information(responses, labels, correction="pt", n_shuffles=0)
    observed = information(responses, labels, correction="pt_observed", n_shuffles=0)
    true_bias = bayesian.plugin.mean()
    assert abs(bayesian.information.mean()) < abs(observed.information.mean())
    # measured: true bias 0.401 bits; Bayesian PT 0.268, observed-bin PT 0.217
    assert abs(bayesian.bias.mean() - true_bias) < abs(observed.bias.mean() - true_bias) - 0.03
    assert (bayesian.bias >= observed.bias - 1e-12).all()  # more relevant bins, larger bias


def test_stratified_parts_keep_the_class_proportions():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 7, (3, 200))  # per-unit labels
    parts = stratified_parts(codes, 4, rng)
    for row_codes, row_parts in zip(codes, parts):
        for c in range(7):
            per_part = np.bincount(row_parts[row_codes == c], minlength=4)
            assert per_part.max() - per_part.min() <= 1
    shared = stratified_parts(codes[:1], 2, rng)
    assert shared.shape == (1, 200) and set(np.unique(shared)) == {0, 1}


def test_qe_over_repartitions_is_less_noisy_than_one_split():
    """The same data, QE under different seeds: averaging 10 stratified repartitions makes
    the per-unit estimate depend much less on the random split."""
    rng = np.random.default_rng(3)
    responses = rng.standard_normal((200, 160)) + np.repeat(np.arange(8), 20)[None] * 0.2
    binned, _ = equipopulated_bins(responses, 3)
    labels = np.repeat(np.arange(8), 20)

    def spread(repartitions):
        values = np.stack([mutual_information(binned, labels, correction="qe", n_shuffles=0,
                                              seed=seed, qe_repartitions=repartitions
                                              ).information for seed in range(8)])
        return values.std(axis=0).mean()

    assert spread(10) < 0.5 * spread(1)


def test_unknown_corrections_are_named():
    with pytest.raises(ValueError, match="pt_observed"):
        information(np.zeros((2, 10)) + np.arange(10), np.arange(10) % 2, correction="bayes")


def test_the_bayesian_count_once_per_distinct_histogram_is_the_same_to_the_bit():
    """Counting once per distinct histogram (packed keys, a dense table or a sort; any
    shape) gives exactly the row-by-row count."""
    from prunedistill.information import _bayesian_count_rows, bayesian_relevant_bins

    rng = np.random.default_rng(4)
    for shape, high in (((400, 23, 3), 9), ((60, 3, 10), 60), ((30, 4, 6), 400),
                        ((5, 40), 3000), ((3, 2), 1)):
        counts = rng.integers(0, high, size=shape).astype(np.float64)
        counts[rng.random(shape) < 0.3] = 0
        rows = counts.reshape(-1, shape[-1])
        expected = _bayesian_count_rows(rows).reshape(shape[:-1])
        assert np.array_equal(bayesian_relevant_bins(counts), expected), shape


@pytest.mark.parametrize("correction", ["pt", "pt_observed", "qe", "none"])
@pytest.mark.parametrize("per_unit", [False, True])
def test_shuffles_reuse_the_margins_exactly(correction, per_unit):
    """A label permutation keeps both margins of the counts, so the shuffled estimates reuse
    the margin terms of the observed ones: the result equals each shuffle estimated from
    scratch, to the bit."""
    from prunedistill.information import (
        _estimate,
        _histogram_base,
        mutual_information,
        stratified_parts,
    )

    rng = np.random.default_rng(5)
    n_units, n_samples, n_bins, n_classes = 40, 120, 3, 6
    binned = rng.integers(0, n_bins, (n_units, n_samples))
    labels = rng.integers(0, n_classes, (n_units, n_samples) if per_unit else n_samples)
    result = mutual_information(binned, labels, correction=correction, n_shuffles=7, seed=3)
    codes = np.atleast_2d(labels)
    draw = np.random.default_rng(3)
    parts = [(stratified_parts(codes, 2, draw), stratified_parts(codes, 4, draw))
             for _ in range(10)] if correction == "qe" else []
    permutations = [draw.permutation(n_samples) for _ in range(7)]
    base = _histogram_base(binned, n_bins, n_classes)
    observed = _estimate(base, n_bins, codes, n_classes, correction, parts)[0]
    shuffled = [_estimate(base, n_bins, codes[:, p], n_classes, correction, parts)[0]
                for p in permutations]
    assert np.array_equal(result.information, observed - sum(shuffled) / 7)


@pytest.mark.parametrize("labels", ["shared", "per_unit", "rows_shared_by_groups"])
@pytest.mark.parametrize("n_bins, n_samples, n_classes",
                         [(3, 90, 7), (5, 400, 7), (4, 6000, 7), (12, 2000, 7), (3, 700, 100)])
def test_all_shuffles_from_packed_histogram_keys_equal_the_one_by_one_estimates(
        labels, n_bins, n_samples, n_classes):
    """Every shuffle's histograms packed into integer keys (a GEMM or a bincount per order;
    float32 keys, float64 keys, a sorted key table, and keys too large to pack, which fall
    back) give the order-by-order PT estimates to the bit, per-unit labels with classes
    some units lack included, and per-unit labels that groups of units share (a GEMM per
    group, a bincount for the rest)."""
    from prunedistill.information import _estimates_from_keys, _estimates_one_by_one

    rng = np.random.default_rng(n_bins + n_samples)
    n_units = 30
    binned = rng.integers(0, n_bins, (n_units, n_samples))
    binned[0] = 0  # one bin used
    per_unit = labels != "shared"
    shape = (n_units, n_samples) if per_unit else (1, n_samples)
    codes = rng.integers(0, n_classes, shape)
    if per_unit:
        codes[1] = np.minimum(codes[1], 2)  # this unit never sees classes 3 and above
    if labels == "rows_shared_by_groups":
        codes[4:20] = codes[3]
        codes[[21, 25, 29]] = codes[1]
    orders = np.array([np.arange(n_samples), *[rng.permutation(n_samples) for _ in range(6)]])
    for correction in ("pt", "pt_observed", "none"):
        fast = _estimates_from_keys(binned, n_bins, codes, n_classes, correction, orders)
        slow = _estimates_one_by_one(binned, n_bins, codes, n_classes, correction, [],
                                     orders[1:])
        for a, b in zip(fast[:3], slow[:3]):
            assert np.array_equal(a, b), correction
        assert np.array_equal(np.asarray(fast[3]), np.asarray(slow[3])), correction


def test_per_unit_label_codes_are_each_rows_unique_inverse():
    from prunedistill.information import _row_codes

    rng = np.random.default_rng(8)
    values = rng.choice([-2.5, 0.0, 1.0, 7.25, 9.0], size=(50, 40))
    values[3] = 4.0
    expected = np.stack([np.unique(row, return_inverse=True)[1] for row in values])
    assert np.array_equal(_row_codes(values, "labels"), expected)
    with pytest.raises(ValueError, match="NaN or infinite"):
        _row_codes(np.where(values > 8, np.nan, values), "labels")
