"""Pruning / distillation verdicts and the ID coupling on planted tables."""

import numpy as np
import pytest
import xarray as xr

from prunedistill.analysis.reformatting import compare_networks, coupling, verdicts

METRICS = ("I_L", "I_C", "f_high_L", "I_invariant", "I_position_deg", "I_size_deg",
           "I_inplane_deg", "I_indepth_deg", "I_orientation", "f_high_C")


def table(seed, shift=None, n=200):
    rng = np.random.default_rng(seed)
    data = {m: ("unit", rng.normal(0.5, 0.1, n)) for m in METRICS}
    for metric, delta in (shift or {}).items():
        data[metric] = ("unit", data[metric][1] + delta)
    return xr.Dataset(data)


def test_planted_pruning_and_distillation_are_detected():
    pruned = {"I_L": -0.2, "I_C": -0.2, "f_high_L": 0.2, "I_invariant": 0.2}
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
