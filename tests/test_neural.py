"""Recorded cortex: schema validation, NWB/netCDF/npz import, pseudo-populations, equal-N
subsets, and recovery of planted truths by the per-area analyses."""

from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from prunedistill.analysis.options import DimensionOptions, InformationOptions, NeuralOptions
from prunedistill.analysis.summaries import phases
from prunedistill.dimension import twonn
from prunedistill.neural import (
    NeuralDataError,
    area_dimension,
    area_information,
    equal_n_subsets,
    neural_responses,
    pseudo_population,
    simulate_latent,
    simulate_population,
    trial_averaged,
    validate_responses,
)
from prunedistill.neural.io import load_netcdf, load_npz, load_responses, save_netcdf, save_npz
from prunedistill.neural.simulate import AreaModel
from prunedistill.stimuli import tafazoli


@pytest.fixture(scope="module")
def stimuli():
    return tafazoli(64, ["bunny", "duck", "teddy", "procedural:6", "procedural:9"])


def small_areas(n=40):
    return (AreaModel("V1", n, 7.0, 1.2, 0.05, 0.35), AreaModel("LM", n, 9.0, 0.9, 0.15, 0.4),
            AreaModel("LI", n, 12.0, 0.6, 0.3, 0.45), AreaModel("LL", n, 16.0, 0.25, 0.6, 0.45))


@pytest.fixture(scope="module")
def simulated(stimuli):
    return simulate_population(stimuli, small_areas(), n_trials=12, seed=1)


def test_validator_names_every_violation(stimuli):
    counts = np.ones((4, 3, 2))
    counts[0, 0, 0] = -1
    counts[1] = np.nan
    with pytest.raises(NeuralDataError) as error:
        neural_responses(counts, area=["V1", "V1", "XX", "LL"],
                         stimulus_id=["bunny/v0", "bunny/v1", "nothing/v9"],
                         area_order=["V1", "LM", "LI", "LL"], stimuli=None)
    message = str(error.value)
    assert "negative counts in 1 neurons" in message
    assert "1 neurons have no valid count" in message
    assert "areas ['XX'] are not in the area order" in message
    ds = neural_responses(np.ones((2, 3, 2)), area=["V1", "LL"],
                          stimulus_id=["bunny/v0", "bunny/v1", "nothing/v9"],
                          area_order=["V1", "LL"])
    with pytest.raises(NeuralDataError, match="1 stimulus ids are not in the stimulus set"):
        validate_responses(ds, stimuli)
    ds.attrs["area_order"] = []
    with pytest.raises(NeuralDataError, match="no area order"):
        validate_responses(ds)


def test_equal_n_subsets_are_equal_across_areas(simulated):
    ds, _ = simulated
    subsets, n = equal_n_subsets(ds, n_resamples=5, seed=0)
    assert n == 36  # 90 % of the smallest area (40)
    for area, draws in subsets.items():
        for neurons in draws:
            assert len(neurons) == n and len(set(neurons)) == n
            assert (ds["area"].values[neurons] == area).all()
    assert not all(np.array_equal(draws[0], draws[1]) for draws in subsets.values())
    with pytest.raises(ValueError, match="fewer than the 41 neurons"):
        equal_n_subsets(ds, n_neurons=41)


def test_pseudo_population_uses_real_trials_of_the_right_stimulus():
    rng = np.random.default_rng(0)
    counts = rng.poisson(5, size=(6, 10, 8)).astype(float)
    counts[:, :, 5:] = np.nan  # unequal trial counts: some neurons have fewer trials
    counts[2, :, 2:] = np.nan
    ds = neural_responses(counts, area=["V1"] * 6, stimulus_id=[f"s{i}" for i in range(10)],
                          area_order=["V1"])
    neurons = np.arange(6)
    points, trials = pseudo_population(ds, neurons, np.random.default_rng(3), n_repeats=4)
    assert points.shape == (40, 6)
    for n in neurons:
        for s in range(10):
            for k in range(4):
                t = trials[n, s, k]
                assert np.isfinite(counts[n, s, t])
                assert points[s * 4 + k, n] == counts[n, s, t]
    assert trials[2].max() <= 1 and trials.max() <= 4
    np.testing.assert_allclose(trial_averaged(ds, neurons), np.nanmean(counts, axis=2).T)


def test_planted_luminance_and_f_high_are_recovered(simulated, stimuli):
    ds, planted = simulated
    units, _ = area_information(ds, stimuli, InformationOptions(shuffles=10), name="sim")
    medians = units.groupby("layer")[["I_L", "f_high_L"]].median()
    weights = planted.groupby("area")["luminance_weight"].first()
    # The area with the largest planted luminance weight has the largest I(R;L) ...
    assert medians["I_L"].idxmax() == weights.idxmax() == "V1"
    # ... and f_high follows the planted order V1 < LM < LI < LL.
    assert list(medians["f_high_L"].sort_values().index) == ["V1", "LM", "LI", "LL"]
    assert (units["rf_fit_r2"] > 0.9).mean() > 0.9  # bar-grid RF maps fit as Gaussians


@pytest.mark.parametrize("k", [3, 5])
def test_population_of_k_latents_has_id_near_k(k):
    ds = simulate_latent(n_stimuli=1000, n_latent=k, n_neurons=200, seed=k)
    dimension = twonn(trial_averaged(ds, np.arange(200)), device="cpu").dimension
    assert abs(dimension - k) < 0.3 * k


def test_area_dimension_tables_and_phases(simulated, stimuli):
    ds, _ = simulated
    tables = area_dimension(ds, NeuralOptions(resamples=4), DimensionOptions(max_blocks=3),
                            images=stimuli["images"].values, name="sim")
    table = tables["dimension"]
    assert table["layer"].tolist() == ["pixels", "V1", "LM", "LI", "LL"]
    assert np.isfinite(table["id_mean"]).all() and (table["id_mean"] > 1).all()
    steps, _ = phases(tables["dimension_resamples"], alpha=0.05)
    assert set(steps["from"]) == {"pixels", "V1", "LM", "LI"}


def test_npz_and_netcdf_round_trips_are_exact(simulated, tmp_path):
    ds, _ = simulated
    ds = ds.copy(deep=True)
    ds["counts"].values[0, 0, 3:] = np.nan  # unequal trials survive
    for path, load in ((tmp_path / "d.npz", load_npz), (tmp_path / "d.nc", load_netcdf)):
        (save_npz if path.suffix == ".npz" else save_netcdf)(ds, path)
        back = load(path)
        np.testing.assert_array_equal(back["counts"].values, ds["counts"].values)
        np.testing.assert_array_equal(back["area"].values, ds["area"].values)
        np.testing.assert_array_equal(back["stimulus_id"].values, ds["stimulus_id"].values)
        np.testing.assert_allclose(back["rf_map"].values, ds["rf_map"].values)
        assert back.attrs["area_order"] == ["V1", "LM", "LI", "LL"]
    assert load_responses(tmp_path / "d.nc").attrs["synthetic"] == 1


def _write_nwb(path, *, stimulus_column="stimulus_id", area=True, units=True):
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="test", identifier="id1", session_id="sess1",
                  session_start_time=datetime(2026, 1, 1, tzinfo=UTC))
    nwb.add_trial_column(stimulus_column, "stimulus shown")
    stimuli = ["bunny/v0", "bunny/v1", "duck/v0"]
    onsets = []
    for _repetition in range(4):
        for s, stimulus in enumerate(stimuli):
            onset = 1.0 * len(onsets) + 1.0
            onsets.append((onset, s))
            nwb.add_trial(start_time=onset, stop_time=onset + 0.5,
                          **{stimulus_column: stimulus})
    if units:
        if area:
            nwb.add_unit_column("area", "brain area")
        for u, (label, latency) in enumerate((("V1", 0.05), ("LL", 0.08))):
            spikes = []
            for onset, s in onsets:
                # (s + 1 + u) spikes inside the response window, one late spike outside it
                spikes += list(onset + latency + 0.005 + 0.01 * np.arange(s + 1 + u))
                spikes.append(onset + latency + 0.2)
            extra = {"area": label} if area else {}
            nwb.add_unit(spike_times=np.sort(spikes), **extra)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_import_counts_spikes_in_the_latency_aligned_window(tmp_path):
    pytest.importorskip("pynwb")
    path = tmp_path / "rec.nwb"
    _write_nwb(path)
    ds = load_responses(path)
    assert ds["stimulus_id"].values.tolist() == ["bunny/v0", "bunny/v1", "duck/v0"]
    assert ds["area"].values.tolist() == ["V1", "LL"]
    np.testing.assert_allclose(ds["latency_ms"].values, [50.0, 80.0])
    expected = np.array([[1, 2, 3], [2, 3, 4]], dtype=float)  # s + 1 + u, late spike excluded
    np.testing.assert_array_equal(ds["counts"].values,
                                  np.repeat(expected[:, :, None], 4, axis=2))
    assert set(ds["session"].values) == {"sess1"}


def test_malformed_nwb_files_give_named_errors(tmp_path):
    pytest.importorskip("pynwb")
    _write_nwb(tmp_path / "a.nwb", stimulus_column="image")
    with pytest.raises(NeuralDataError, match="no column 'stimulus_id'.*image"):
        load_responses(tmp_path / "a.nwb")
    _write_nwb(tmp_path / "b.nwb", area=False)
    with pytest.raises(NeuralDataError, match="no area for the units"):
        load_responses(tmp_path / "b.nwb")
    _write_nwb(tmp_path / "c.nwb", units=False)
    with pytest.raises(NeuralDataError, match="no units table"):
        load_responses(tmp_path / "c.nwb")
    (tmp_path / "d.nwb").write_bytes(b"not hdf5")
    with pytest.raises(NeuralDataError, match="not a readable NWB file"):
        load_responses(tmp_path / "d.nwb")


def test_convert_command_nwb_to_netcdf(tmp_path):
    pytest.importorskip("pynwb")
    from prunedistill.cli import main

    _write_nwb(tmp_path / "rec.nwb")
    assert main(["neural", "convert", str(tmp_path / "rec.nwb"), str(tmp_path / "rec.nc")]) == 0
    back = load_responses(tmp_path / "rec.nc")
    np.testing.assert_array_equal(back["counts"].values,
                                  load_responses(tmp_path / "rec.nwb")["counts"].values)
    assert main(["neural", "convert", str(tmp_path / "rec.nc"), str(tmp_path / "x.csv")]) == 2


def _finite_counts(ds) -> int:
    return int(np.isfinite(ds["counts"].values).sum())


def test_brainscore_import_keeps_every_presentation_of_concatenated_sessions(simulated):
    """Two sessions concatenated repeat every (stimulus_id, repetition) pair; on main the
    second overwrote the first (a third of the counts kept)."""
    from prunedistill.neural.io import from_brainscore, to_brainscore

    ds, _ = simulated
    assembly = to_brainscore(ds)
    doubled = xr.concat([assembly, assembly + 1], dim="presentation")
    back = from_brainscore(doubled)
    assert _finite_counts(back) == 2 * _finite_counts(ds)
    assert back.sizes["trial"] == 2 * ds.sizes["trial"]
    # Within each stimulus the presentations keep the data's order: session 1, then 2.
    first = ds["counts"].values[:, 0, :]
    assert np.array_equal(back["counts"].values[:, 0, :ds.sizes["trial"]], first)
    assert np.array_equal(back["counts"].values[:, 0, ds.sizes["trial"]:], first + 1)


def test_brainscore_repetition_numbers_never_wrap_or_explode(simulated):
    from prunedistill.neural.io import from_brainscore, to_brainscore

    ds, _ = simulated
    assembly = to_brainscore(ds)
    repetition = assembly["repetition"].values.copy()
    repetition[repetition == 0] = -1  # on main: wrapped into the last trial slot
    repetition[repetition == 3] = 10**9  # on main: a 33 GiB allocation
    back = from_brainscore(assembly.assign_coords(repetition=("presentation", repetition)))
    assert back.sizes["trial"] == ds.sizes["trial"]
    assert _finite_counts(back) == _finite_counts(ds)


def test_netcdf4_hdf5_assemblies_are_read(simulated, tmp_path):
    """BrainIO writes netCDF-4 (HDF5) files; main read only netCDF-3 (engine scipy)."""
    from prunedistill.neural.io import to_brainscore

    ds, _ = simulated
    path = tmp_path / "assembly.nc"
    to_brainscore(ds).to_netcdf(path, engine="h5netcdf")
    back = load_netcdf(path)
    assert np.array_equal(back["counts"].values, ds["counts"].values, equal_nan=True)


def test_latency_memory_grows_with_spikes_not_presentations_times_spikes():
    """One neuron, 9,880 presentations, 10,000 spikes: on main a presentations x spikes
    matrix (790 MB, 20 s)."""
    import tracemalloc

    from prunedistill.neural.nwb import response_latency, spikes_around

    rng = np.random.default_rng(0)
    onsets = np.arange(9880) * 0.5
    spikes = np.sort(np.r_[rng.uniform(0, onsets[-1], 5000),
                           (onsets[rng.integers(0, 9880, 5000)] + 0.08)])
    relative = spikes_around(spikes, onsets[:50], 0.1, 0.3)
    brute = (spikes[None, :] - onsets[:50, None]).ravel()
    expected = np.sort(brute[(brute >= -0.1) & (brute <= 0.3)])
    assert np.array_equal(np.sort(relative), expected)
    tracemalloc.start()
    latency = response_latency(spikes, onsets)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20
    assert latency.significant and latency.seconds == pytest.approx(0.08, abs=0.011)
