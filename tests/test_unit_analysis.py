"""Per-unit reformatting analysis and receptive fields on planted units."""

import numpy as np
import pytest
import xarray as xr

from prunedistill.analysis.options import InformationOptions, NoiseOptions
from prunedistill.analysis.receptive_fields import (
    bar_response_maps,
    fit_gaussian,
    gaussian_rf_maps,
    gradient_rf_maps,
    rf_centres,
)
from prunedistill.analysis.units import (
    RFVariables,
    analyse_units,
    poisson_trials,
    summarise_units,
    unit_view_groups,
)
from prunedistill.stimuli import bars, tafazoli_views
from prunedistill.stimuli.properties import rf_luminance


def view_table(n_objects=10):
    """A stimulus Dataset with the tafazoli coordinates and blank images."""
    views = tafazoli_views()
    n = n_objects * len(views)
    coords = {"object": ("stimulus", np.repeat([f"o{i}" for i in range(n_objects)], len(views))),
              "transformation": ("stimulus", np.tile([t for t, _ in views], n_objects))}
    for key in ("position_deg", "size_deg", "inplane_deg", "indepth_deg", "luminance"):
        coords[key] = ("stimulus", np.tile([getattr(v, key) for _, v in views], n_objects))
    return xr.Dataset({"images": (("stimulus", "y", "x"), np.zeros((n, 4, 4), np.float32))},
                      coords=coords, attrs={"deg_per_pixel": 30.0})


def planted_units(seed=0):
    rng = np.random.default_rng(seed)
    stimuli = view_table()
    n = stimuli.sizes["stimulus"]
    objects = np.unique(stimuli.object.values, return_inverse=True)[1]
    luminance = rng.uniform(0.5, 1.0, size=(3, n))
    responses = np.stack([
        luminance[0] ** 2,                                   # a luminance detector
        objects + 1e-3 * rng.standard_normal(n),              # an invariant object detector
        rng.standard_normal(n),                               # noise
    ])
    variables = RFVariables(luminance=luminance, contrast=rng.uniform(size=(3, n)),
                            orientation_energy=rng.uniform(size=(3, n)),
                            azimuth_deg=np.array([20.0, -30.0, 10.0]))
    return responses, stimuli, variables


def test_luminance_unit_and_object_unit():
    responses, stimuli, variables = planted_units()
    table = analyse_units(responses, stimuli, variables, InformationOptions(shuffles=20))
    lum, obj, noise = 0, 1, 2
    assert table.I_S.values[lum] == pytest.approx(np.log2(3), abs=0.01)
    assert table.I_L.values[lum] > 0.85 * table.I_S.values[lum]
    assert table.f_high_L.values[lum] < 0.15
    assert table.f_high_L.values[obj] > 0.9
    assert table.I_invariant.values[obj] > 0.5
    assert table.I_invariant.values[obj] > 5 * abs(table.I_invariant.values[noise])
    assert abs(table.I_L.values[noise]) < 0.1
    assert table.p_L.values[lum] < 0.05 and table.p_L.values[noise] > 0.01
    # Each unit is analysed on its own 23 views x 10 objects.
    assert table.I_invariant_sweep.shape == (3, 10)  # the YAML default sweep
    summary = summarise_units(table, n_boot=200)
    assert summary["n_units"] == 3 and "I_L_median" in summary and "I_L_se" in summary


def test_view_groups_follow_the_rf():
    _, stimuli, variables = planted_units()
    groups = unit_view_groups(stimuli, variables.azimuth_deg)
    assert sorted(len(stimuli_index) for _, stimuli_index in groups) == [230, 230]
    for units, chosen in groups:
        others = stimuli.transformation.values[chosen] != "position"
        default = stimuli.position_deg.values[chosen][others][0]
        assert all(np.sign(variables.azimuth_deg[units]) == np.sign(default))


def test_shuffled_responses_carry_no_information():
    responses, stimuli, variables = planted_units(1)
    rng = np.random.default_rng(5)
    shuffled = rng.permuted(np.repeat(responses[2:3], 40, axis=0), axis=1)
    variables = RFVariables(luminance=np.repeat(variables.luminance[2:3], 40, axis=0),
                            contrast=np.repeat(variables.contrast[2:3], 40, axis=0),
                            orientation_energy=np.repeat(variables.orientation_energy[2:3], 40, 0),
                            azimuth_deg=np.full(40, 10.0))
    table = analyse_units(shuffled, stimuli, variables, InformationOptions(shuffles=20))
    for name in ("I_L", "I_C", "I_position_deg", "I_size_deg", "I_orientation"):
        assert abs(np.median(table[name].values)) < 0.02, name


def test_poisson_noise_gives_trials_and_corrected_information():
    responses, stimuli, variables = planted_units()
    noise = NoiseOptions(kind="poisson", n_trials=5, peak_rate=20.0)
    counts = poisson_trials(responses[:, :4], noise, seed=1)
    assert counts.shape == (3, 20) and (counts >= 0).all()
    table = analyse_units(responses, stimuli, variables,
                          InformationOptions(shuffles=10, noise=noise), seed=1)
    assert table.I_S.values[0] < np.log2(3)
    assert table.I_L.values[0] > table.I_L.values[2]
    assert np.isfinite(table.p_S.values).all()


def test_bar_mapping_recovers_a_planted_rf_centre():
    ds = bars(size=64, phases=2, supersample=2)
    x, y = ds.x.values, ds.y.values
    centre = (23.0, -8.0)
    planted = np.exp(-((x[None, :] - centre[0]) ** 2 + (y[:, None] - centre[1]) ** 2)
                     / (2 * 9.0 ** 2))[None]
    responses = rf_luminance(ds.images.values, planted)
    maps, azimuth, elevation = bar_response_maps(responses, ds)
    assert maps.shape == (1, 6, 11)
    fit = fit_gaussian(maps, azimuth, elevation)
    assert abs(fit.centre_x_deg[0] - centre[0]) < 10 and abs(fit.centre_y_deg[0] - centre[1]) < 10
    assert fit.good[0]
    on_grid = gaussian_rf_maps(fit, x, y)
    assert on_grid.shape == (1, 64, 64) and on_grid.max() == pytest.approx(1, abs=0.05)
    flat = fit_gaussian(np.random.default_rng(0).standard_normal((4, 6, 11)), azimuth, elevation)
    assert not flat.good.any()


def _levenberg_marquardt_every_unit(maps, azimuth, elevation, iterations=60):
    """The fit as docs/science.md states it, with J^T J and J^T r recomputed for every unit
    at every iteration: (params (units, 6), cost (units,))."""
    from prunedistill.analysis.receptive_fields import _gaussian

    grid_x, grid_y = np.meshgrid(azimuth, elevation)
    x, y, z = grid_x.ravel(), grid_y.ravel(), maps.reshape(len(maps), -1)
    cell = float(np.min(np.diff(np.unique(x))))
    peak, low = z.argmax(axis=1), z.min(axis=1)
    params = np.column_stack([z.max(axis=1) - low, x[peak], y[peak],
                              np.full(len(z), np.log(cell)), np.full(len(z), np.log(cell)), low])
    damping = np.full(len(z), 1e-2)
    value, jac = _gaussian(params, x, y)
    cost = ((z - value) ** 2).sum(axis=1)
    limits = (np.log(cell / 4), np.log(4 * max(np.ptp(x), np.ptp(y), cell)))
    for _ in range(iterations):
        jtj = np.einsum("upi,upj->uij", jac, jac)
        jtr = np.einsum("upi,up->ui", jac, z - value)
        diagonal = np.einsum("uii->ui", jtj)
        floor = 1e-9 * diagonal.max(axis=1, keepdims=True) + 1e-300
        system = jtj + np.einsum("ui,ij->uij", damping[:, None] * diagonal + floor, np.eye(6))
        trial = params + np.linalg.solve(system, jtr[..., None])[..., 0]
        trial[:, 3:5] = np.clip(trial[:, 3:5], *limits)
        trial_value, trial_jac = _gaussian(trial, x, y)
        trial_cost = ((z - trial_value) ** 2).sum(axis=1)
        better = trial_cost < cost
        params[better], value[better], jac[better] = (trial[better], trial_value[better],
                                                      trial_jac[better])
        cost[better] = trial_cost[better]
        damping = np.clip(np.where(better, damping / 3, damping * 4), 1e-12, 1e12)
    return params, cost


def test_gaussian_fit_updating_only_moved_units_is_the_same_fit_to_the_bit():
    ds = bars(size=32, phases=1, supersample=1)
    rng = np.random.default_rng(3)
    x, y = ds.x.values, ds.y.values
    centres = np.column_stack([rng.uniform(-40, 40, 40), rng.uniform(-20, 20, 40)])
    planted = np.exp(-((x[None, None, :] - centres[:, 0, None, None]) ** 2
                       + (y[None, :, None] - centres[:, 1, None, None]) ** 2) / (2 * 12.0 ** 2))
    responses = rf_luminance(ds.images.values, planted)          # std ~0.007 over the bars
    noise = np.r_[np.full(20, 0.002), np.full(20, 0.05)]
    responses += noise[:, None] * rng.standard_normal(responses.shape)
    responses[30:35] = 0.0                                        # silent units: flat maps
    maps, azimuth, elevation = bar_response_maps(responses, ds)
    fit = fit_gaussian(maps, azimuth, elevation)
    params, cost = _levenberg_marquardt_every_unit(maps, azimuth, elevation)
    np.testing.assert_array_equal(fit.amplitude, params[:, 0])
    np.testing.assert_array_equal(fit.centre_x_deg, params[:, 1])
    np.testing.assert_array_equal(fit.centre_y_deg, params[:, 2])
    np.testing.assert_array_equal(fit.sigma_x_deg, np.exp(params[:, 3]))
    np.testing.assert_array_equal(fit.offset, params[:, 5])
    total = ((maps - maps.mean(axis=(1, 2), keepdims=True)) ** 2).reshape(40, -1).sum(axis=1)
    np.testing.assert_array_equal(fit.r2[total > 0], 1 - cost[total > 0] / total[total > 0])
    assert fit.good[:20].all() and not fit.good[20:].any()     # noise 0.05 buries the RF


def test_gradient_rf_is_local_and_centred_on_the_unit():
    from prunedistill.models import load_model

    model = load_model("embedded", "untrained:0")
    images = np.random.default_rng(0).random((4, 64, 64)).astype(np.float32)
    # features.conv2_1 is (32, 32, 32): unit (channel 0, row 10, column 20)
    maps = gradient_rf_maps(model, "features.conv2_1", [10 * 32 + 20], images)
    rows, cols = np.nonzero(maps[0])
    assert rows.min() >= 14 and rows.max() <= 27 and cols.min() >= 34 and cols.max() <= 47
    azimuth, elevation = rf_centres(maps, np.arange(64.0), -np.arange(64.0))
    assert abs(azimuth[0] - 40.5) < 2 and abs(-elevation[0] - 20.5) < 2


def test_every_checkpoint_layer_of_the_untrained_cnn_gives_finite_values(tmp_path):
    from prunedistill.activations import ActivationStore, extract_to_store
    from prunedistill.analysis.units import analyse_layer
    from prunedistill.models import load_model
    from prunedistill.stimuli import tafazoli

    stimuli = tafazoli(size=64, objects=("bunny", "duck", "mug", "procedural:9"))
    model = load_model("embedded", "untrained:0")
    store = ActivationStore(extract_to_store(model, stimuli, "checkpoints", tmp_path / "a.zarr",
                                             subset_size=40, keep_full=False))
    config = InformationOptions(shuffles=5)
    for layer in store.layers:
        act = store.subset(layer)
        maps = gradient_rf_maps(model, layer, act.unit.values, stimuli.images.values[::8])
        table = analyse_layer(act.values.T, stimuli, maps, config)
        live = ~table.degenerate.values
        assert live.sum() > 0, layer
        for name in ("I_S", "I_L", "I_C", "f_high_L", "I_position_deg", "I_orientation"):
            values = table[name].values[live]
            assert np.isfinite(values).all(), (layer, name)
        has_pairs = live & (table.n_invariant_pairs.values > 0)
        assert np.isfinite(table.I_invariant.values[has_pairs]).all(), layer
        assert np.isnan(table.I_invariant.values[table.n_invariant_pairs.values == 0]).all()
        assert np.isfinite(table.I_invariant_sweep.sel(threshold=0.0).values[live]).all()


def test_flat_and_dead_maps_are_flagged_not_fatal():
    az = (np.arange(11) - 5) * 10.0
    el = (2.5 - np.arange(6)) * 10.0
    maps = np.zeros((3, 6, 11))
    maps[1] = 2.0
    maps[2, 3, 4] = 1.0
    fit = fit_gaussian(maps, az, el)
    assert not fit.good[0] and not fit.good[1]
    assert fit.good[2] and abs(fit.centre_x_deg[2] - az[4]) < 5


def test_a_constant_layer_gets_nan_and_a_reason_not_an_aborted_study():
    from prunedistill.analysis import DimensionOptions, identity, layer_dimension
    from prunedistill.distances import distances_from_chunks

    constant = distances_from_chunks([np.ones((50, 8))], device="cpu")  # as extraction does
    tables = layer_dimension(constant, DimensionOptions(repeats=3), identity(
        "net", "untrained:0", "relu9", 9), seed=0)
    row = tables["dimension"].iloc[0]
    assert np.isnan(row["id"]) and "distinct points" in row["note"]
    assert row["layer"] == "relu9" and set(tables) == {"dimension"}


def test_too_many_luminance_bins_name_their_key():
    from prunedistill.analysis import InformationOptions, analyse_units

    responses, stimuli, variables = planted_units()
    with pytest.raises(ValueError, match="information.luminance_bins is 500"):
        analyse_units(responses, stimuli, variables, InformationOptions(luminance_bins=500,
                                                                        shuffles=0))


def test_rf_fits_centred_outside_the_mapped_field_are_flagged_and_not_used():
    """An unbounded Gaussian fit extrapolates a map that rises toward the grid's edge to a
    centre the bars never probed; such fits are failed fits (full-field maps), like R^2 <=
    0.5 ones, and say so in ``inside``."""
    from prunedistill.analysis.receptive_fields import fit_gaussian, inside_field, localised_rf_maps

    azimuth = np.arange(-55.0, 55.0, 10.0)  # 11 columns of 10 deg
    elevation = np.arange(25.0, -35.0, -10.0)  # 6 rows
    grid_x, grid_y = np.meshgrid(azimuth, elevation)
    centres = [(0.0, 0.0), (-30.0, 10.0), (75.0, 0.0), (0.0, -50.0)]  # 2 inside, 2 outside
    maps = np.stack([np.exp(-((grid_x - x) ** 2 + (grid_y - y) ** 2) / (2 * 15.0 ** 2))
                     for x, y in centres])
    fit = fit_gaussian(maps, azimuth, elevation)
    np.testing.assert_array_equal(fit.inside, [True, True, False, False])
    np.testing.assert_array_equal(fit.good, [True, True, False, False])
    assert fit.r2[2:].min() > 0.5  # the R^2 alone would have accepted them
    assert inside_field(50.0, 0.0, azimuth, elevation) and not inside_field(50.1, 0, azimuth,
                                                                             elevation)
    rf = localised_rf_maps(fit, np.linspace(-60, 60, 24), np.linspace(30, -30, 12))
    assert (rf[2:] == 1.0).all() and (rf[:2] < 1.0).any()


def test_the_exact_null_needs_no_shuffles_and_agrees_with_them():
    """With the exact null and no shuffles, a luminance unit keeps its information, shuffled
    units stay at zero, the values lie within the shuffle null's Monte Carlo error of the
    shuffle-subtracted ones, and there are no p-values."""
    responses, stimuli, variables = planted_units(1)
    rng = np.random.default_rng(6)
    responses = np.concatenate([responses[:1], rng.permuted(np.repeat(responses[2:3], 30, 0),
                                                            axis=1)])
    variables = RFVariables(*(np.repeat(v[2:3], 31, axis=0) for v in (
        variables.luminance, variables.contrast, variables.orientation_energy)),
        azimuth_deg=np.full(31, 10.0))
    variables.luminance[0] = np.sqrt(responses[0])  # unit 0 reads its own RF luminance
    exact = analyse_units(responses, stimuli, variables,
                          InformationOptions(shuffles=0, null_model="exact"))
    shuffled = analyse_units(responses, stimuli, variables, InformationOptions(shuffles=200))
    assert np.isnan(exact.p_L.values).all()
    assert exact.I_L.values[0] > 0.85 * exact.I_S.values[0]
    for name in ("I_L", "I_C", "I_orientation", "I_invariant"):
        assert abs(np.median(exact[name].values[1:])) < 0.01, name
        assert np.abs(exact[name].values - shuffled[name].values).max() < 0.02, name


def test_rf_centres_in_blocks_equal_the_one_copy_centroid_to_the_bit(monkeypatch):
    from prunedistill.analysis import receptive_fields
    from prunedistill.analysis.receptive_fields import GaussianFit, localised_rf_maps

    rng = np.random.default_rng(3)
    n = 23
    fit = GaussianFit(centre_x_deg=rng.uniform(-40, 40, n), centre_y_deg=rng.uniform(-30, 30, n),
                      sigma_x_deg=rng.uniform(2, 20, n), sigma_y_deg=rng.uniform(2, 20, n),
                      amplitude=np.ones(n), offset=np.zeros(n), r2=rng.uniform(0, 1, n),
                      inside=np.ones(n, dtype=bool))
    x, y = np.linspace(-50, 50, 40), np.linspace(35, -35, 30)
    maps = localised_rf_maps(fit, x, y)  # float32, the full field where R^2 <= 0.5
    whole = maps.astype(np.float64)
    total = whole.sum(axis=(1, 2))
    expected = ((whole.sum(axis=1) @ x) / total, (whole.sum(axis=2) @ y) / total)
    for block_bytes in (8 * 30 * 40 * 5, 8 * 30 * 40, 2**30):  # 5 units, 1 unit, all at once
        monkeypatch.setattr(receptive_fields, "_CENTRE_BLOCK_BYTES", block_bytes)
        azimuth, elevation = rf_centres(maps, x, y)
        assert np.array_equal(azimuth, expected[0]) and np.array_equal(elevation, expected[1])
