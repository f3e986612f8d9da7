"""The exact null: the mean of the corrected estimate over all label permutations, against
scikit-learn's expected mutual information, against every permutation enumerated, and
against the shuffle mean as the shuffles grow."""

from itertools import permutations

import numpy as np
import pytest
from sklearn.metrics.cluster import expected_mutual_information

from prunedistill.config import ConfigError, load_config
from prunedistill.information import (
    _estimate,
    _estimates_from_keys,
    _exact_null,
    _histogram_base,
    _joint_counts_of,
    mutual_information,
)


def test_the_plugin_null_is_scikit_learns_expected_mutual_information():
    rng = np.random.default_rng(0)
    binned = rng.integers(0, 3, (25, 150))
    labels = rng.integers(0, 7, 150)
    counts = _joint_counts_of(binned, 3, labels[None], 7)
    reference = [expected_mutual_information(c, 150) / np.log(2) for c in counts]
    np.testing.assert_allclose(_exact_null(counts, "none"), reference, rtol=0, atol=1e-13)


@pytest.mark.parametrize("correction", ["none", "pt_observed", "pt"])
@pytest.mark.parametrize("per_unit", [False, True])
def test_the_exact_null_is_the_mean_over_every_permutation(correction, per_unit):
    """7 samples: all 5,040 label orders estimated one by one from scratch."""
    rng = np.random.default_rng(1)
    n_units, n_samples = 4, 7
    binned = rng.integers(0, 3, (n_units, n_samples))
    binned[:, :3] = [0, 1, 2]  # every unit uses its 3 bins
    codes = rng.integers(0, 3, (n_units if per_unit else 1, n_samples))
    codes[:, :3] = [0, 1, 2]
    base = _histogram_base(binned, 3, 3)
    total = np.zeros(n_units)
    orders = list(permutations(range(n_samples)))
    for order in orders:
        total += _estimate(base, 3, codes[:, list(order)], 3, correction, [])[0]
    expected = _exact_null(_joint_counts_of(binned, 3, codes, 3), correction)
    np.testing.assert_allclose(expected, total / len(orders), rtol=0, atol=1e-12)


def test_the_shuffle_mean_converges_to_the_exact_null():
    rng = np.random.default_rng(2)
    n_samples, n_shuffles = 200, 4000
    binned = rng.integers(0, 3, (30, n_samples))
    labels = rng.integers(0, 10, n_samples)
    orders = np.array([np.arange(n_samples),
                       *[rng.permutation(n_samples) for _ in range(n_shuffles)]])
    shuffled = np.asarray(_estimates_from_keys(binned, 3, labels[None], 10, "pt", orders)[3])
    exact = _exact_null(_joint_counts_of(binned, 3, labels[None], 10), "pt")
    standard_error = shuffled.std(axis=0) / np.sqrt(n_shuffles)
    z = (shuffled.mean(axis=0) - exact) / standard_error
    assert np.abs(z).max() < 4.5 and abs(z.mean()) < 3 / np.sqrt(30) * 3


def test_mutual_information_with_the_exact_null():
    rng = np.random.default_rng(3)
    binned = rng.integers(0, 3, (40, 120))
    labels = rng.integers(0, 6, 120)
    binned[:10] = labels[None] % 3  # informative units
    exact = mutual_information(binned, labels, n_shuffles=0, null_model="exact")
    assert exact.p_value is None and exact.null_model == "exact"
    corrected = mutual_information(binned, labels, n_shuffles=0)
    expected_null = _exact_null(_joint_counts_of(binned, 3, labels[None], 6), "pt")
    np.testing.assert_array_equal(exact.shuffle_mean, expected_null)
    np.testing.assert_array_equal(exact.information, corrected.information - expected_null)
    assert (exact.information[:10] > 0.5).all()
    assert abs(np.median(exact.information[10:])) < 0.02
    with_p = mutual_information(binned, labels, n_shuffles=50, seed=4, null_model="exact")
    shuffles = mutual_information(binned, labels, n_shuffles=50, seed=4)
    np.testing.assert_array_equal(with_p.p_value, shuffles.p_value)
    np.testing.assert_array_equal(with_p.information, exact.information)


def test_the_exact_null_refuses_what_it_cannot_compute(tmp_path):
    binned = np.random.default_rng(5).integers(0, 3, (5, 60))
    labels = np.arange(60) % 4
    with pytest.raises(ValueError, match="use null_model 'shuffles' with quadratic"):
        mutual_information(binned, labels, correction="qe", null_model="exact")
    with pytest.raises(ValueError, match="null_model must be one of"):
        mutual_information(binned, labels, null_model="analytic")
    wide = np.random.default_rng(6).integers(0, 40, (2, 4000))
    with pytest.raises(ValueError, match="use bias_correction 'pt_observed' or 'none'"):
        mutual_information(wide, np.arange(4000) % 2, n_shuffles=0, null_model="exact")
    config = tmp_path / "study.yaml"
    config.write_text("information:\n  bias_correction: qe\n  null_model: exact\n")
    with pytest.raises(ConfigError, match="with qe use null_model: shuffles"):
        load_config(config)
