"""Pruning / distillation verdicts and the ID coupling on planted tables."""

import numpy as np
import pytest
import xarray as xr

from prunedistill.analysis.reformatting import (
    compare_networks,
    coupling,
    network_level,
    verdicts,
)
from prunedistill.stats import instance_permutation_test, one_sided_welch_test

METRICS = ("I_S", "I_L", "I_C", "f_high_L", "I_invariant", "I_generalisation",
           "I_position_deg", "I_size_deg", "I_inplane_deg", "I_indepth_deg", "I_orientation",
           "f_high_C")


def table(seed, shift=None, n=200):
    rng = np.random.default_rng(seed)
    data = {m: ("unit", rng.normal(0.5, 0.1, n)) for m in METRICS}
    for metric, delta in (shift or {}).items():
        data[metric] = ("unit", data[metric][1] + delta)
    return xr.Dataset(data)


def test_planted_pruning_and_distillation_are_detected():
    pruned = {"I_L": -0.2, "I_C": -0.2, "f_high_L": 0.2, "I_invariant": 0.2,
              "I_generalisation": 0.2}
    trained = {"conv1": table(0), "pool2": table(1, pruned)}
    untrained = {"conv1": [table(10), table(11)], "pool2": [table(12), table(13)]}
    comparison = compare_networks(trained, untrained)
    assert set(comparison.untrained) == {"pooled", "seed0", "seed1"}
    result = verdicts(comparison).set_index("layer")
    assert result.loc["pool2", "pruning"] and result.loc["pool2", "distillation"]
    assert not result.loc["conv1", "pruning"] and not result.loc["conv1", "distillation"]
    row = comparison.query("layer == 'pool2' and metric == 'I_L' and untrained == 'pooled'")
    assert row.difference.iloc[0] == pytest.approx(-0.2, abs=0.03)
    assert row.effect_size.iloc[0] < -0.7


def test_identical_networks_give_no_verdicts():
    trained = {f"layer{i}": table(i) for i in range(4)}
    untrained = {f"layer{i}": [table(i)] for i in range(4)}
    result = verdicts(compare_networks(trained, untrained))
    assert not result.pruning.any() and not result.distillation.any()


def test_coupling_correlation_and_permutation_p():
    id_change = np.array([1.0, 4.0, 9.0, 6.0, 2.0, 0.5, 0.2, 0.1])
    strong = coupling(id_change, -0.05 * id_change + 0.001 * np.arange(8), n_permutations=2000)
    assert strong["r"] < -0.99 and strong["p"] < 0.01
    rng = np.random.default_rng(0)
    weak = coupling(id_change, rng.standard_normal(8), n_permutations=2000)
    assert weak["p"] > 0.05
    with pytest.raises(ValueError, match="one ID change"):
        coupling([1, 2, 3], [1, 2])


def test_degenerate_units_are_left_out_of_the_comparison():
    trained = table(0)
    trained["degenerate"] = ("unit", np.arange(200) < 150)
    trained["I_L"][:150] = 0.0  # silent units: 0 bits, flagged degenerate
    comparison = compare_networks({"l": trained}, {"l": [table(1)]})
    row = comparison.query("metric == 'I_L' and untrained == 'pooled'")
    assert row.n_trained.iloc[0] == 50
    assert row.median_trained.iloc[0] == pytest.approx(0.5, abs=0.05)


def deterministic_table(seed, luminance_drop=0.0, n=300):
    """Units with one response per stimulus: I(R;S) = log2 3 for every unit, so f_high_L is
    1 - I(R;L) / log2 3; invariance terms drawn from one distribution."""
    rng = np.random.default_rng(seed)
    i_s = np.full(n, np.log2(3))
    i_l = np.clip(rng.normal(0.5, 0.1, n) - luminance_drop, 0, None)
    data = {m: ("unit", rng.normal(0.5, 0.1, n)) for m in METRICS}
    data.update(I_S=("unit", i_s), I_L=("unit", i_l), f_high_L=("unit", 1 - i_l / i_s))
    data["I_S_is_entropy"] = ("unit", np.ones(n, dtype=bool))
    return xr.Dataset(data)


def test_a_layer_where_only_luminance_information_drops_is_not_distillation():
    """Deterministic units whose luminance information drops and nothing else changes:
    f_high is significantly higher (a transform of the lower I(R;L)), but it is not counted,
    the independent evidence shows nothing, and the verdict is pruning without
    distillation."""
    trained = {"pool3": deterministic_table(0, luminance_drop=0.2)}
    untrained = {"pool3": [deterministic_table(1), deterministic_table(2)]}
    comparison = compare_networks(trained, untrained)
    assert comparison["deterministic"].all()
    row = verdicts(comparison).iloc[0]
    assert row.f_high_L_p_holm < 1e-6 and row.I_L_p_holm < 1e-6
    assert not row.f_high_L_counted
    assert row.distillation_evidence == "I_invariant, I_generalisation"
    assert row.distillation_significant == 0 and not row.distillation


def test_f_high_counts_when_units_have_trials():
    trained = table(0, {"f_high_L": 0.2, "I_invariant": 0.2, "I_generalisation": 0.2})
    untrained = table(1)
    for t in (trained, untrained):
        t["I_S_is_entropy"] = ("unit", np.zeros(200, dtype=bool))
    row = verdicts(compare_networks({"l": trained}, {"l": [untrained]})).iloc[0]
    assert row.f_high_L_counted and row.distillation
    assert row.distillation_evidence == "f_high_L, I_invariant, I_generalisation"


def test_one_piece_of_evidence_is_not_enough():
    """Deterministic units without single-unit decoders: only I_invariant is left, so even
    a strong rise of it gives no distillation verdict."""
    trained = deterministic_table(0).drop_vars("I_generalisation")
    trained["I_invariant"] = trained["I_invariant"] + 0.3
    untrained = deterministic_table(1).drop_vars("I_generalisation")
    row = verdicts(compare_networks({"l": trained}, {"l": [untrained]})).iloc[0]
    assert row.I_invariant_p_holm < 1e-6
    assert row.distillation_evidence == "I_invariant" and not row.distillation


def test_a_consistent_effect_replicates_at_the_network_level():
    """Three trained instances each prune by 0.15 bits: every instance median lies below
    every untrained one, the Welch test rejects after Holm, and the exact permutation p is
    its floor for 3 vs 3 (1/20)."""
    pruned = {"I_L": -0.15, "I_C": -0.15, "f_high_L": 0.15, "I_invariant": 0.15,
              "I_generalisation": 0.15}
    trained = {"l1": [table(s) for s in (0, 1, 2)],
               "l2": [table(s, pruned) for s in (3, 4, 5)]}
    untrained = {"l1": [table(s) for s in (10, 11, 12)],
                 "l2": [table(s) for s in (13, 14, 15)]}
    replicated = network_level(trained, untrained).set_index(["layer", "metric"])
    row = replicated.loc[("l2", "I_L")]
    assert row.n_trained_instances == 3 and row.n_untrained_instances == 3
    assert row.separated and row.p_exact == pytest.approx(1 / 20)
    assert row.difference == pytest.approx(-0.15, abs=0.03) and row.p_holm < 0.01
    assert replicated.loc[("l1", "I_L"), "p"] > 0.05
    medians = [float(np.median(t["I_L"].values)) for t in trained["l2"]]
    assert [float(v) for v in row.trained_medians.split(";")] == medians
    comparison = compare_networks(trained, untrained)
    assert {"pooled", "instance0", "instance1", "instance2"} <= set(comparison.trained)
    result = verdicts(comparison, network=network_level(trained, untrained)).set_index("layer")
    assert result.loc["l2", "pruning_network"] and result.loc["l2", "distillation_network"]
    assert not result.loc["l1", "pruning_network"]
    assert result.loc["l2", "n_trained_instances"] == 3


def test_one_deviant_instance_is_significant_over_units_but_not_over_networks():
    """One trained instance prunes strongly, the two others not at all: pooled over units
    the drop is significant (units as samples), over instances it is not replicated."""
    trained = {"l": [table(0, {"I_L": -0.3, "I_C": -0.3}), table(1), table(2)]}
    untrained = {"l": [table(s) for s in (10, 11, 12)]}
    comparison = compare_networks(trained, untrained)
    pooled = comparison.query("metric == 'I_L' and trained == 'pooled' "
                              "and untrained == 'pooled'")
    assert pooled.p.iloc[0] < 1e-3
    per_instance = comparison.query("metric == 'I_L' and untrained == 'pooled' "
                                    "and trained != 'pooled'").set_index("trained")
    assert per_instance.loc["instance0", "p"] < 1e-6 and per_instance.loc["instance1", "p"] > 0.01
    network = network_level(trained, untrained)
    row = verdicts(comparison, network=network).iloc[0]
    assert row.pruning and not row.pruning_network
    assert network.set_index("metric").loc["I_L", "p"] > 0.05


def test_one_trained_instance_has_no_network_level_test():
    network = network_level({"l": [table(0, {"I_L": -0.3})]}, {"l": [table(1), table(2)]})
    assert np.isnan(network["p"]).all() and (network["n_trained_instances"] == 1).all()
    row = verdicts(compare_networks({"l": table(0)}, {"l": [table(1), table(2)]}),
                   network=network).iloc[0]
    assert np.isnan(row.pruning_network) and np.isnan(row.distillation_network)


def test_welch_and_exact_tests_by_hand():
    first, second = np.array([1.0, 2.0, 4.0]), np.array([5.0, 6.0, 9.0, 10.0])
    welch = one_sided_welch_test(first, second, "less")
    v1, v2 = np.var(first, ddof=1) / 3, np.var(second, ddof=1) / 4
    assert welch["t"] == pytest.approx((first.mean() - second.mean()) / np.sqrt(v1 + v2))
    assert welch["df"] == pytest.approx((v1 + v2) ** 2 / (v1 ** 2 / 2 + v2 ** 2 / 3))
    # separated groups: the observed split is the most extreme of C(7, 3) = 35
    assert instance_permutation_test(first, second, "less") == pytest.approx(1 / 35)
    assert instance_permutation_test(first, second, "greater") == pytest.approx(1.0)
    # 2 of the 20 splits of these six values have a mean difference >= the observed one
    assert instance_permutation_test(np.array([3.0, 5.0, 6.0]), np.array([1.0, 2.0, 4.0]),
                                     "greater") == pytest.approx(2 / 20)
    from scipy.stats import ttest_ind

    reference = ttest_ind(first, second, equal_var=False, alternative="less")
    assert welch["p"] == pytest.approx(reference.pvalue, rel=1e-12)
    assert np.isnan(one_sided_welch_test(first[:1], second, "less")["p"])
    same = np.full(3, 0.4586535815390766)
    assert np.isnan(one_sided_welch_test(same, same + [0, 5e-17, 0], "less")["p"])
