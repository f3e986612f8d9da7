"""Stimuli: the rendered sets, their geometry, determinism, properties and folder input."""

import numpy as np
import pandas as pd
import pytest

from prunedistill.stimuli import (
    TAFAZOLI_OBJECTS,
    Camera,
    Renderer,
    TrainingStream,
    View,
    bars,
    load_folder,
    load_stimuli,
    montage,
    save_stimuli,
    select_19_views,
    select_23_views,
    tafazoli,
)
from prunedistill.stimuli.properties import (
    image_properties,
    orientation_energy,
    rf_contrast,
    rf_luminance,
    rf_orientation_energy,
    rf_statistics,
)


@pytest.fixture(scope="module")
def reference_set():
    return tafazoli(size=64)


def render(mesh="bunny", size=128, **view):
    with Renderer(Camera(size=size)) as renderer:
        return renderer.render(mesh, View(**view))


def test_tafazoli_has_380_stimuli_with_the_view_table(reference_set):
    ds = reference_set
    assert ds.sizes["stimulus"] == 380
    assert list(np.unique(ds.object.values)) == sorted(TAFAZOLI_OBJECTS)
    one = ds.where(ds.object == "bunny", drop=True)
    assert one.sizes["stimulus"] == 38
    counts = pd.Series(one.transformation.values).value_counts().to_dict()
    assert counts == {"position": 8, "size": 8, "inplane": 8, "indepth": 8, "luminance": 6}
    positions = one.position_deg.values[one.transformation.values == "position"]
    np.testing.assert_array_equal(positions, np.arange(-22.5, 30.1, 7.5))
    others = one.transformation.values != "position"
    assert set(one.position_deg.values[others]) == {-15.0, 15.0}
    sizes = one.size_deg.values[one.transformation.values == "size"]
    assert sorted(set(sizes)) == [15.0, 25.0, 45.0, 55.0]
    assert sorted(set(one.luminance.values)) == [0.125, 0.25, 0.5, 1.0]
    assert ds.attrs["deg_per_pixel"] == pytest.approx(120 / 64)
    assert ds.images.dtype == np.float32
    assert ds.images.min() >= 0 and ds.images.max() <= 1


def test_view_subsets(reference_set):
    near_right = select_23_views(reference_set, rf_azimuth_deg=20.0)
    assert near_right.sizes["stimulus"] == 230
    moved = near_right.transformation.values != "position"
    assert set(near_right.position_deg.values[moved]) == {15.0}
    left = select_23_views(reference_set, rf_azimuth_deg=-40.0)
    assert set(left.position_deg.values[left.transformation.values != "position"]) == {-15.0}
    population = select_19_views(reference_set, rf_azimuth_deg=15.0)
    assert population.sizes["stimulus"] == 190
    kept = population.position_deg.values[population.transformation.values == "position"]
    assert sorted(set(kept)) == [0.0, 7.5, 15.0, 22.5]


def test_luminance_scales_every_object_pixel():
    full = render(luminance=1.0)
    half = render(luminance=0.5)
    assert (full > 0).sum() > 500
    assert np.abs(half - full / 2).max() <= 1 / 255


def test_position_step_moves_the_centroid_by_the_step_in_pixels():
    camera = Camera(size=128)
    with Renderer(camera) as renderer:
        images = np.stack([renderer.render("duck", View(position_deg=x))
                           for x in (-7.5, 0.0, 7.5, 15.0)])
    table = image_properties(images, camera.deg_per_pixel)
    steps_px = np.diff(table.centroid_x_deg.values) / camera.deg_per_pixel
    np.testing.assert_allclose(steps_px, 7.5 / camera.deg_per_pixel, atol=1.0)
    assert np.abs(table.centroid_y_deg.values - table.centroid_y_deg.values[0]).max() < 0.5


def test_size_scales_the_area_by_the_square_of_the_ratio():
    small, large = render("teddy", size=224, size_deg=15), render("teddy", size=224, size_deg=55)
    ratio = (large > 0).sum() / (small > 0).sum()
    assert ratio == pytest.approx((55 / 15) ** 2, rel=0.1)


def test_size_is_the_bounding_circle_diameter():
    camera = Camera(size=224)
    image = render("mug", size=224, size_deg=40)
    azimuth, elevation = camera.pixel_centres_deg()
    inside = image > 0
    assert (azimuth[np.nonzero(inside)[1]].max() - azimuth[np.nonzero(inside)[1]].min()) <= 40 + 1
    rows, cols = np.nonzero(inside)
    radius = np.hypot(azimuth[cols] - azimuth[cols].mean(),
                      elevation[rows] - elevation[rows].mean())
    assert radius.max() == pytest.approx(20, abs=3)


def test_indepth_rotation_changes_the_silhouette_inplane_keeps_its_area():
    default = render("lamp") > 0
    inplane = render("lamp", inplane_deg=40) > 0
    indepth = render("lamp", indepth_deg=60) > 0
    assert inplane.sum() == pytest.approx(default.sum(), rel=0.05)
    assert not np.array_equal(inplane, default)
    # The in-depth rotation is not an image-plane transformation: its silhouette's area
    # changes, and no in-plane rotation or shift explains it.
    assert abs(indepth.sum() - default.sum()) / default.sum() > 0.1


def test_renders_are_byte_identical_across_runs():
    first = tafazoli(size=32, objects=("bunny", "procedural:6"))
    second = tafazoli(size=32, objects=("bunny", "procedural:6"))
    assert first.images.values.tobytes() == second.images.values.tobytes()


def test_unknown_mesh_names_the_valid_ones():
    with pytest.raises(ValueError, match="procedural:<index>"):
        tafazoli(size=32, objects=("bunny", "dragon"))


def test_training_stream_is_seeded_disjoint_and_fresh_each_epoch():
    stream = TrainingStream(n_objects=50, camera=Camera(size=32), epoch_images=60, seed=3)
    assert len(stream.objects) == 50
    assert not set(stream.objects) & set(TAFAZOLI_OBJECTS)
    labels, views = stream.plan(0)
    assert np.bincount(labels, minlength=50).min() >= 1
    again_labels, again_views = TrainingStream(n_objects=50, camera=Camera(size=32),
                                               epoch_images=60, seed=3).plan(0)
    np.testing.assert_array_equal(labels, again_labels)
    assert views == again_views
    next_labels, next_views = stream.plan(1)
    assert views != next_views
    assert all(15 <= v.size_deg <= 55 and -60 <= v.indepth_deg <= 60 for v in views)
    images, batch_labels = next(stream.batches(0, batch_size=8))
    assert images.shape == (8, 32, 32) and images.dtype == np.float32
    np.testing.assert_array_equal(batch_labels, labels[:8])
    with pytest.raises(ValueError, match="tafazoli"):
        TrainingStream(objects=["procedural:6", "procedural:7"])


def test_bars_cover_the_grid():
    ds = bars(size=64, phases=2, supersample=2)
    assert ds.sizes["stimulus"] == 6 * 11 * 4 * 2
    assert set(ds.orientation_deg.values) == {0.0, 45.0, 90.0, 135.0}
    np.testing.assert_allclose(sorted(set(ds.cell_azimuth_deg.values)), np.arange(-50, 51, 10))
    # Each bar is 10 x 2 deg: its covered area is 20 deg^2 wherever it is.
    area = ds.images.values.sum(axis=(1, 2)) * ds.attrs["deg_per_pixel"] ** 2
    np.testing.assert_allclose(area, 20.0, rtol=0.15)
    # A horizontal bar's pixels lie in one band of rows.
    horizontal = ds.images.values[(ds.orientation_deg == 0).values][0]
    assert (horizontal.sum(axis=1) > 0).sum() <= 3


def test_rf_luminance_and_contrast():
    white = np.ones((1, 16, 16))
    y, x = np.mgrid[:16, :16]
    gaussian = np.exp(-((x - 8) ** 2 + (y - 5) ** 2) / 8.0)[None]
    flat = np.stack([np.full((16, 16), 0.3), np.zeros((16, 16))])
    assert rf_luminance(white, gaussian)[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(rf_luminance(flat, gaussian), [[0.3, 0.0]])
    np.testing.assert_allclose(rf_contrast(flat, gaussian), [[0.0, 0.0]], atol=1e-12)
    half = np.zeros((1, 16, 16))
    half[0, :, :8] = 1.0
    box = np.zeros((1, 16, 16))
    box[0, 4:12, 4:12] = 1.0  # uniform weights, half of them on the bright side
    assert rf_contrast(half, box)[0, 0] == pytest.approx(0.5)
    assert rf_luminance(half, box)[0, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rf_maps must have shape"):
        rf_luminance(white, np.ones((1, 8, 8)))


def test_units_with_equal_rf_maps_get_one_computation_and_equal_values():
    rng = np.random.default_rng(25)
    images = rng.random((12, 20, 20))
    y, x = np.mgrid[:20, :20]
    gaussians = np.exp(-((x - rng.uniform(4, 16, (5, 1, 1))) ** 2
                         + (y - rng.uniform(4, 16, (5, 1, 1))) ** 2) / 10.0).astype(np.float32)
    full_field = np.ones((1, 20, 20), dtype=np.float32)
    # Unlocalised units share the full field; two fitted units share a Gaussian.
    maps = np.concatenate([full_field, gaussians, full_field, gaussians[2:3], full_field])
    which = ("luminance", "contrast", "orientation_energy", "orientation_deg")
    together = rf_statistics(images, maps, which, deg_per_pixel=2.0)
    for unit, single in enumerate(maps):
        alone = rf_statistics(images, single[None], which, deg_per_pixel=2.0)
        for name in which:
            np.testing.assert_allclose(together[name][unit], alone[name][0], rtol=1e-12)
    for name in which:
        for twins in ([0, 6, 8], [3, 7]):
            assert (together[name][twins] == together[name][twins[0]]).all()
    np.testing.assert_allclose(together["luminance"][0], images.mean(axis=(1, 2)), rtol=1e-12)


def test_orientation_energy_finds_the_grating_orientation():
    size, dpp = 64, 1.0
    y, x = np.mgrid[:size, :size].astype(float)
    vertical_stripes = 0.5 + 0.5 * np.cos(2 * np.pi * x / 10.0)
    horizontal_stripes = 0.5 + 0.5 * np.cos(2 * np.pi * y / 10.0)
    energy = orientation_energy(np.stack([vertical_stripes, horizontal_stripes]), dpp)
    centre = energy[:, :, 24:40, 24:40].mean(axis=(2, 3))
    assert centre[0].argmax() == 0 and centre[1].argmax() == 2
    rf = np.zeros((1, size, size))
    rf[0, 20:44, 20:44] = 1
    _, dominant = rf_orientation_energy(np.stack([vertical_stripes, horizontal_stripes]), rf, dpp)
    np.testing.assert_array_equal(dominant, [[0.0, 90.0]])


def test_image_properties_table(reference_set):
    table = image_properties(reference_set)
    assert len(table) == 380
    assert {"luminance_global", "contrast_global", "area_deg2", "centroid_x_deg",
            "position_deg", "object"} <= set(table.columns)
    positions = table[table.transformation == "position"]
    assert np.corrcoef(positions.position_deg, positions.centroid_x_deg)[0, 1] > 0.99


def test_store_round_trip_and_montage(tmp_path, reference_set):
    subset = reference_set.isel(stimulus=slice(0, 76))
    path = save_stimuli(subset, tmp_path / "stimuli.zarr")
    loaded = load_stimuli(path)
    assert loaded.images.values.tobytes() == subset.images.values.tobytes()
    assert list(loaded.object.values) == list(subset.object.values)
    assert loaded.attrs["deg_per_pixel"] == subset.attrs["deg_per_pixel"]
    picture = montage(subset)
    assert picture.shape == (2 * 64 + 2, 38 * 64 + 37 * 2)


def _write_folder(tmp_path, rows, size=(16, 16)):
    from PIL import Image

    for name in ("a.png", "b.png"):
        Image.fromarray(np.full(size[::-1], 200, dtype=np.uint8)).save(tmp_path / name)
    pd.DataFrame(rows).to_csv(tmp_path / "metadata.csv", index=False)


def test_folder_loads_images_and_numeric_metadata(tmp_path):
    _write_folder(tmp_path, {"file": ["a.png", "b.png"], "object": ["cat", "dog"],
                             "view": [0, 0], "contrast": [0.5, 1.0]})
    ds = load_folder(tmp_path, field_deg=40)
    assert ds.images.shape == (2, 16, 16)
    assert ds.images.values.max() == pytest.approx(200 / 255)
    np.testing.assert_array_equal(ds.contrast.values, [0.5, 1.0])
    assert ds.attrs["deg_per_pixel"] == pytest.approx(2.5)


@pytest.mark.parametrize("rows, message", [
    ({"file": ["a.png", "c.png"], "object": ["x", "y"], "view": [0, 1]}, "not in"),
    ({"file": ["a.png", "b.png"], "object": ["x", "y"]}, "lacks column"),
    ({"file": ["a.png", "b.png"], "object": ["x", "y"], "view": [0, 1], "note": ["p", "q"]},
     "not numeric"),
])
def test_folder_errors_name_the_problem(tmp_path, rows, message):
    _write_folder(tmp_path, rows)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_folder(tmp_path)


def test_folder_unreadable_image_and_missing_csv(tmp_path):
    _write_folder(tmp_path, {"file": ["a.png", "b.png"], "object": ["x", "y"], "view": [0, 1]})
    (tmp_path / "b.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        load_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="metadata file"):
        load_folder(tmp_path, tmp_path / "missing.csv")


def test_folder_mixed_sizes_need_resizing(tmp_path):
    from PIL import Image

    _write_folder(tmp_path, {"file": ["a.png", "b.png"], "object": ["x", "y"], "view": [0, 1]})
    Image.fromarray(np.zeros((20, 20), dtype=np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="same size"):
        load_folder(tmp_path)
    assert load_folder(tmp_path, size=16).images.shape == (2, 16, 16)


def test_folder_rows_outside_the_folder_or_repeating_a_view_are_refused(tmp_path):
    from PIL import Image

    from prunedistill.stimuli import load_folder

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(folder / name)
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "stray.png")
    (folder / "metadata.csv").write_text("file,object,view\na.png,x,0\n../stray.png,x,1\n")
    with pytest.raises(ValueError, match="outside"):
        load_folder(folder)
    (folder / "metadata.csv").write_text("file,object,view\na.png,x,0\nb.png,x,0\n")
    with pytest.raises(ValueError, match=r"\(object, view\) pair"):
        load_folder(folder)
