import numpy as np
import pytest

from prunedistill.information import (
    _bins_by_rank,
    _bins_by_threshold,
    conditional_information_plugin,
    decompose,
    equipopulated_bins,
    information,
    invariant_object_information,
    luminosity_ratios,
    mutual_information,
)


def h2(p):
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def test_bins_are_equipopulated_for_distinct_values():
    r = np.random.default_rng(0).standard_normal((50, 300))
    binned, used = equipopulated_bins(r, 3)
    assert (used == 3).all()
    for row in binned:
        np.testing.assert_array_equal(np.bincount(row), [100, 100, 100])
    # Bins follow rank order.
    order = np.argsort(r[0])
    assert (np.diff(binned[0][order]) >= 0).all()


def test_ties_never_straddle_a_bin_edge():
    rng = np.random.default_rng(1)
    r = np.maximum(rng.integers(-6, 5, size=(200, 97)), 0).astype(float)  # ReLU-like ties
    binned, used = equipopulated_bins(r, 3)
    for values, bins, n_used in zip(r, binned, used):
        for v in np.unique(values):
            assert len(np.unique(bins[values == v])) == 1
        assert len(np.unique(bins)) == n_used
        assert bins.max() == n_used - 1


def test_tie_rule_by_hand():
    binned, used = equipopulated_bins(np.array([[0, 0, 0, 0, 0, 0, 1, 2, 3, 4.0]]), 3)
    np.testing.assert_array_equal(binned[0], [0, 0, 0, 0, 0, 0, 1, 2, 2, 2])
    binned, used = equipopulated_bins(np.array([[5.0, 5, 5, 5], [1, 2, 1, 2]]), 3)
    np.testing.assert_array_equal(used, [1, 2])


def _bins_from_the_rule(values: np.ndarray, n_bins: int) -> np.ndarray:
    """One unit, straight from the definition: raw bin floor(#{values < v} * n_bins / N),
    then the raw bins present renumbered 0..used-1."""
    raw = np.array([(values < v).sum() * n_bins // len(values) for v in values])
    return np.searchsorted(np.unique(raw), raw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_order_statistic_and_sorting_paths_give_the_rule(dtype):
    """The threshold path (n_bins <= 24) and the argsort path (more bins) give the same
    codes as the definition, on ties, ReLU zeros, -0.0 beside 0.0, and N not a multiple
    of the bins."""
    rng = np.random.default_rng(7)
    for trial in range(400):
        n = int(rng.integers(2, 60))
        n_bins = int(rng.integers(2, n + 1))
        r = rng.integers(-4, 5, size=(3, n)).astype(dtype)
        if trial % 2:
            r = np.maximum(r, 0) * rng.standard_normal(n).astype(dtype)
        r[r == 0] = -0.0 if trial % 3 == 0 else 0.0
        expected = np.array([_bins_from_the_rule(row, n_bins) for row in r])
        for path in (_bins_by_rank, _bins_by_threshold):
            binned, used = path(r, n_bins)
            assert binned.dtype == np.int16
            np.testing.assert_array_equal(binned, expected, err_msg=path.__name__)
            np.testing.assert_array_equal(used, expected.max(axis=1) + 1)


def test_deterministic_response_carries_its_entropy():
    r = np.random.default_rng(2).standard_normal((20, 300))
    stimulus = np.arange(300)
    result = information(r, stimulus, correction="none", n_shuffles=0)
    np.testing.assert_allclose(result.plugin, np.log2(3), rtol=1e-12)


def test_two_by_two_table_is_exact():
    # Joint counts [[3, 1], [1, 3]]: I = 1 - H(3/4) bits.
    binned = np.array([[0, 0, 0, 1, 0, 1, 1, 1]])
    x = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    result = mutual_information(binned, x, correction="pt", n_shuffles=0)
    assert result.plugin[0] == pytest.approx(1 - h2(0.75), abs=1e-15)
    # PT: sum_x (R_x - 1) - (R - 1) = 2 - 1 over 2 N ln 2.
    assert result.bias[0] == pytest.approx(1 / (2 * 8 * np.log(2)), abs=1e-15)
    assert result.information[0] == pytest.approx(1 - h2(0.75) - 1 / (16 * np.log(2)), abs=1e-15)


def test_null_information_is_corrected_to_zero():
    rng = np.random.default_rng(3)
    n_units, n_samples, n_classes = 10_000, 230, 10
    r = rng.standard_normal((n_units, n_samples))
    x = np.repeat(np.arange(n_classes), n_samples // n_classes)
    result = information(r, x, n_bins=3, n_shuffles=100, seed=4)
    expected_bias = (3 - 1) * (n_classes - 1) / (2 * n_samples * np.log(2))
    assert result.plugin.mean() == pytest.approx(expected_bias, rel=0.10)
    assert abs(result.information.mean()) < 0.003
    assert abs((result.plugin - result.bias).mean()) < 0.003  # PT alone
    # Permutation p-values under the null: P(p <= a) close to a (ties make it conservative).
    for alpha in (0.05, 0.1, 0.25, 0.5):
        assert alpha - 0.03 < (result.p_value <= alpha).mean() <= alpha + 0.01


def test_quadratic_extrapolation_removes_null_bias():
    rng = np.random.default_rng(5)
    r = rng.standard_normal((4000, 240))
    x = np.repeat(np.arange(10), 24)
    result = information(r, x, correction="qe", n_shuffles=0, seed=1)
    assert abs(result.information.mean()) < 0.005
    assert result.plugin.mean() > 0.05


def test_informative_units_are_significant():
    rng = np.random.default_rng(6)
    x = np.repeat(np.arange(10), 23)
    r = x[None, :] + 0.5 * rng.standard_normal((50, 230))
    result = information(r, x, n_shuffles=100)
    assert (result.p_value < 0.05).all()
    assert (result.information > 0.5).all()


def test_single_valued_unit_reports_zero_and_degenerate():
    x = np.repeat(np.arange(5), 10)
    r = np.vstack([np.zeros(50), np.arange(50.0)])
    result = information(r, x, n_shuffles=10)
    assert result.degenerate.tolist() == [True, False]
    assert result.plugin[0] == 0 and result.information[0] == 0


def test_decomposition_chain_rule_holds_for_per_unit_luminance():
    rng = np.random.default_rng(7)
    n_units, n_stimuli, n_trials = 40, 60, 5
    stimulus = np.repeat(np.arange(n_stimuli), n_trials)
    lum_per_stimulus = rng.random((n_units, n_stimuli))
    luminance = lum_per_stimulus[:, stimulus]  # a function of the stimulus, per unit
    r = luminance + 0.3 * rng.standard_normal(luminance.shape)
    dec = decompose(r, stimulus, luminance, low_level_bins=12, correction="none", n_shuffles=0)
    np.testing.assert_allclose(
        dec.stimulus.plugin, dec.low_level.plugin + dec.residual_plugin, atol=1e-12
    )
    np.testing.assert_allclose(dec.stimulus.information, dec.low_level.information + dec.residual)


def test_fhigh_separates_luminance_units_from_shape_units():
    rng = np.random.default_rng(8)
    n_stimuli, n_trials = 60, 10
    stimulus = np.repeat(np.arange(n_stimuli), n_trials)
    lum = rng.random(n_stimuli)
    shape = rng.permutation(n_stimuli) / n_stimuli
    luminance_unit = lum[stimulus] + 0.1 * rng.standard_normal(len(stimulus))
    shape_unit = shape[stimulus] + 0.1 * rng.standard_normal(len(stimulus))
    dec = decompose(np.vstack([luminance_unit, shape_unit]), stimulus, lum[stimulus],
                    low_level_bins=20, n_shuffles=50)
    assert dec.f_high[0] < 0.3 < 0.7 < dec.f_high[1]


def test_conditional_information_zero_when_response_is_function_of_condition():
    z = np.repeat(np.arange(4), 25)
    x = np.tile(np.arange(5), 20)
    binned = np.vstack([z % 3, (z + x) % 3])
    cond = conditional_information_plugin(binned, x, z)
    assert cond[0] == pytest.approx(0, abs=1e-12)
    assert cond[1] > 0.5


def test_invariant_information_respects_luminosity_ratio():
    rng = np.random.default_rng(9)
    n_objects, n_views, n_trials = 4, 10, 6
    objects = np.repeat(np.arange(n_objects), n_views * n_trials)
    object_luminance = np.array([1.0, 0.98, 0.5, 0.49])
    luminance = object_luminance[objects] * (1 + 0.01 * rng.standard_normal(len(objects)))
    luminance_unit = luminance + 0.05 * rng.standard_normal(len(objects))
    result = invariant_object_information(
        luminance_unit[None], objects, luminance[None], thresholds=[0.0, 0.85], n_shuffles=20
    )
    info_all, info_matched = result["information"][0]
    # Matched pairs (0,1) and (2,3) differ little in luminance: little information there.
    assert result["n_pairs"][0].tolist() == [6, 2]
    assert info_all > 0.3 and info_matched < info_all / 2


def test_luminosity_ratio_by_hand():
    lum = np.array([[1.0, 1.0, 0.5, 0.5, 0.9, 0.9]])
    ratios, pairs = luminosity_ratios(lum, [0, 0, 1, 1, 2, 2])
    assert pairs == [(0, 1), (0, 2), (1, 2)]
    np.testing.assert_allclose(ratios[0], [0.5, 0.9, 0.5 / 0.9])


def test_bad_inputs_raise_named_errors():
    r = np.random.default_rng(0).standard_normal((3, 20))
    x = np.repeat(np.arange(4), 5)
    with pytest.raises(ValueError, match="NaN"):
        information(np.where(r == r[1, 3], np.nan, r), x)
    with pytest.raises(ValueError, match="2D"):
        information(r[0], x)
    with pytest.raises(ValueError, match="same samples"):
        information(r, x[:10])
    with pytest.raises(ValueError, match="fewer samples than bins"):
        information(r[:, :2], [0, 1], n_bins=3)
    with pytest.raises(ValueError, match="fewer samples than bins"):
        decompose(r, x, r, low_level_bins=23)
    with pytest.raises(ValueError, match="single value"):
        information(r, np.zeros(20))
    with pytest.raises(ValueError, match="correction"):
        information(r, x, correction="bayes")
    with pytest.raises(ValueError, match="bin codes"):
        mutual_information(-np.ones((2, 20), dtype=int), x)
    with pytest.raises(ValueError, match="shape"):
        information(r, np.zeros((2, 20)))


def test_invariant_information_batched_pairs_equal_the_per_pair_loop():
    from itertools import combinations

    from prunedistill.information import information, invariant_object_information

    rng = np.random.default_rng(4)
    responses = rng.standard_normal((20, 60))
    objects = np.repeat(np.arange(4), 15)
    result = invariant_object_information(responses, objects, rng.uniform(0.5, 1, (20, 60)),
                                          n_shuffles=0)
    loop = np.stack([information(responses[:, (objects == a) | (objects == b)],
                                 objects[(objects == a) | (objects == b)], n_shuffles=0).information
                     for a, b in combinations(range(4), 2)], axis=1)
    np.testing.assert_array_equal(result["pair_information"], loop)
