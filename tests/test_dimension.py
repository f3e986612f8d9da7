import numpy as np
import pytest
from scipy.spatial.distance import cdist
from skdim.id import TwoNN

from prunedistill.dimension import (
    expansion_contraction_phases,
    holm,
    twonn,
    twonn_from_neighbours,
    twonn_resampled,
    twonn_scale,
)
from prunedistill.distances import GramAccumulator, PointCloud


def gaussian_embedded(n, d, ambient, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) @ rng.standard_normal((d, ambient))


def sphere(n, d, seed):
    """Uniform points on the d-sphere S^d in R^(d+1)."""
    x = np.random.default_rng(seed).standard_normal((n, d + 1))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def swiss_roll(n, seed):
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    h = 21 * rng.random(n)
    return np.column_stack([t * np.cos(t), h, t * np.sin(t)])


@pytest.mark.parametrize("d", [2, 4, 6, 8, 10])
def test_gaussian_linearly_embedded_recovers_dimension(d):
    x = gaussian_embedded(2000, d, 60, seed=d)
    assert twonn(x).dimension == pytest.approx(d, rel=0.10)


@pytest.mark.parametrize("d", [2, 3, 5, 7, 10])
def test_uniform_sphere_recovers_dimension(d):
    assert twonn(sphere(2000, d, seed=d)).dimension == pytest.approx(d, rel=0.10)


def test_swiss_roll_is_two_dimensional():
    assert twonn(swiss_roll(2000, seed=1)).dimension == pytest.approx(2, rel=0.10)


def test_hypercube_boundary_bias_is_reproduced_not_hidden():
    # TwoNN reads a 10-cube low (about 8.7 at N = 5000): the boundary bias is real.
    x = np.random.default_rng(3).random((5000, 10))
    estimate = twonn(x).dimension
    assert 8.2 < estimate < 9.2


@pytest.mark.parametrize(
    "points",
    [
        gaussian_embedded(1500, 5, 40, seed=0),
        sphere(1200, 3, seed=1),
        np.tanh(gaussian_embedded(1000, 7, 300, seed=2)).astype(np.float32),
        swiss_roll(800, seed=4),
    ],
)
def test_identical_to_scikit_dimension(points):
    ours = twonn(points)
    reference = TwoNN().fit(np.asarray(points, dtype=np.float64))
    assert ours.dimension == pytest.approx(reference.dimension_, abs=1e-9)
    reference_mle = TwoNN(discard_fraction=0.0, method="mle").fit(np.asarray(points, np.float64))
    assert ours.dimension_mle == pytest.approx(reference_mle.dimension_, abs=1e-9)


def test_chunked_and_distance_paths_equal_point_path():
    x = np.tanh(gaussian_embedded(600, 6, 5000, seed=5)).astype(np.float32)
    from_points = twonn(x).dimension
    chunks = (x[:, i : i + 700] for i in range(0, x.shape[1], 700))
    from_chunks = twonn(chunks).dimension
    from_distances = twonn(distances=cdist(x.astype(np.float64), x.astype(np.float64))).dimension
    assert from_chunks == pytest.approx(from_points, abs=1e-9)
    assert from_distances == pytest.approx(from_points, abs=1e-9)


def test_gram_accumulator_matches_direct_distances_with_large_offset():
    rng = np.random.default_rng(6)
    x = (1e3 + rng.standard_normal((50, 3000))).astype(np.float32)
    acc = GramAccumulator(50, device="cpu")
    for i in range(0, 3000, 1024):
        acc.update(x[:, i : i + 1024])
    expected = cdist(x.astype(np.float64), x.astype(np.float64))
    np.testing.assert_allclose(acc.distance_matrix().distances, expected, rtol=1e-10, atol=1e-9)


def test_knn_is_exact_against_cdist_including_small_sets():
    rng = np.random.default_rng(7)
    for n, dim in [(3, 1), (4, 2), (9, 5), (300, 20), (700, 150)]:
        x = rng.standard_normal((n, dim)) + 50.0  # an offset that a plain Gram expansion loses
        expected = cdist(x, x)
        np.fill_diagonal(expected, np.inf)
        expected.sort(axis=1)
        k = min(5, n - 1)
        dist, index = PointCloud(x, device="cpu").knn(k)
        np.testing.assert_allclose(dist, expected[:, :k], rtol=1e-12)
        rows = np.arange(n)[:, None]
        np.testing.assert_allclose(np.linalg.norm(x[index] - x[rows], axis=2), dist, rtol=1e-12)


def test_knn_over_several_blocks_is_exact_for_float32_and_tied_integer_points():
    """Several 512-row blocks of the symmetric search, the proof-pruned refinement, and
    ties: integer points have many equal distances, so candidate lists end in ties."""
    rng = np.random.default_rng(21)
    relu = np.maximum(rng.standard_normal((1800, 8)) @ rng.standard_normal((8, 60)), 0)
    for x in (relu.astype(np.float32), rng.poisson(3.0, size=(1300, 6)).astype(np.float64)):
        x = x[PointCloud(x, device="cpu").unique_index()]
        x64 = x.astype(np.float64)
        expected = cdist(x64, x64)
        np.fill_diagonal(expected, np.inf)
        expected.sort(axis=1)
        for k in (1, 2, 5):
            dist, index = PointCloud(x, device="cpu").knn(k)
            np.testing.assert_allclose(dist, expected[:, :k], rtol=1e-12, atol=0)
            found = np.linalg.norm(x64[index] - x64[:, None, :], axis=2)
            np.testing.assert_allclose(found, dist, rtol=1e-12, atol=0)


def test_refinement_skips_only_candidates_the_error_bound_proves_farther():
    rng = np.random.default_rng(23)
    x = rng.standard_normal((40, 5))
    cloud = PointCloud(x, device="cpu")
    exact = cdist(x, x)
    np.fill_diagonal(exact, np.inf)
    nearest = np.argsort(exact, axis=1)[:, :6]
    # Approximate values in the wrong order, each within a bound of 100 of the truth: the
    # truly nearest come last, so all six must be refined.
    reversed_candidates = nearest[:, ::-1]
    approx = np.tile(np.arange(6.0), (40, 1))
    dist, index = cloud._refine(reversed_candidates, 2, approx, np.full(40, 100.0))
    np.testing.assert_array_equal(index, nearest[:, :2])
    # Exact approximations and a zero bound: the two nearest suffice.
    approx = np.take_along_axis(exact, nearest, axis=1) ** 2
    dist, index = cloud._refine(nearest, 2, approx, np.zeros(40))
    np.testing.assert_allclose(dist, np.sort(exact, axis=1)[:, :2], rtol=1e-12)


def test_duplicate_rows_are_found_exactly_even_when_fingerprints_collide(monkeypatch):
    from prunedistill import distances

    rng = np.random.default_rng(22)
    x = rng.integers(0, 3, size=(400, 3)).astype(np.float32)  # many exact duplicates
    x[::7] *= -1  # -0.0 equals 0.0
    expected = np.sort(np.unique(x + 0, axis=0, return_index=True)[1])
    np.testing.assert_array_equal(PointCloud(x, device="cpu").unique_index(), expected)
    # Every row with one fingerprint: only the row comparisons decide.
    monkeypatch.setattr(distances, "_row_fingerprints", lambda rows: np.zeros(len(rows), np.uint64))
    np.testing.assert_array_equal(PointCloud(x, device="cpu").unique_index(), expected)


def test_float32_near_duplicates_at_large_norm_are_not_biased():
    # Nearest-neighbour distances ~1e-4 of the norm: a float32 Gram expansion
    # gets them wrong; the exact refinement must not.
    base = gaussian_embedded(3000, 4, 30, seed=8) * 1e-3 + 100.0
    x32 = base.astype(np.float32)
    exact = TwoNN().fit(x32.astype(np.float64)).dimension_
    assert twonn(x32).dimension == pytest.approx(exact, abs=1e-9)


def test_exact_duplicates_are_dropped_and_counted():
    x = sphere(3000, 5, seed=9)
    with_duplicates = np.vstack([x, x[:300]])  # 10 % duplicated rows
    result = twonn(with_duplicates)
    assert result.n_duplicates == 300
    assert result.dimension == pytest.approx(twonn(x).dimension, abs=1e-9)


def test_relu_like_zero_rows_are_duplicates():
    x = np.maximum(gaussian_embedded(1000, 5, 40, seed=10), 0)
    x[:100] = 0.0
    x[100:110] = -0.0
    assert twonn(x).n_duplicates == 109


def test_equidistant_neighbours_are_dropped_as_degenerate():
    r1 = np.array([1.0, 1.0, 2.0, 1.0, 0.0] + [1.0] * 20)
    r2 = np.array([2.0, 1.0, 3.0, 1.5, 1.0] + list(np.linspace(1.1, 3, 20)))
    result = twonn_from_neighbours(r1, r2)
    assert result.n_degenerate == 1
    assert result.n_duplicates == 1
    assert result.n_points == 23


def test_fit_matches_hand_computation():
    mu = np.array([1.1, 1.3, 1.7, 2.0, 2.9, 4.0, 5.5, 7.0, 9.0, 12.0])
    result = twonn_from_neighbours(np.ones(10), mu, fraction=0.9)
    x = np.log(np.sort(mu))[:9]
    y = -np.log(1 - np.arange(1, 10) / 10)
    assert result.dimension == pytest.approx((x @ y) / (x @ x), rel=1e-14)
    assert result.dimension_mle == pytest.approx(9 / np.log(mu).sum(), rel=1e-14)
    assert result.n_fit == 9


def test_resampling_is_seeded_and_spreads():
    x = sphere(1500, 4, seed=11)
    a = twonn_resampled(x, repeats=20, seed=1)
    b = twonn_resampled(x, repeats=20, seed=1)
    c = twonn_resampled(x, repeats=20, seed=2)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    assert 0 < a.std < 0.5
    assert a.mean == pytest.approx(a.full.dimension, rel=0.05)
    assert a.n_points_subset == 1350


def test_resampled_subsets_equal_direct_estimates():
    x = gaussian_embedded(400, 3, 10, seed=12)
    result = twonn_resampled(x, repeats=5, seed=3)
    rng = np.random.default_rng(3)
    for value in result.values:
        chosen = np.sort(rng.choice(400, size=360, replace=False))
        assert value == pytest.approx(twonn(x[chosen]).dimension, abs=1e-9)


def test_scale_analysis_table():
    table = twonn_scale(sphere(2000, 3, seed=13), max_blocks=20, seed=0)
    assert list(table.columns) == ["n_blocks", "n_points", "id_mean", "id_std", "id_mle_mean"]
    assert table["n_blocks"].tolist() == list(range(1, 21))
    assert table["n_points"].is_monotonic_decreasing
    assert np.isnan(table["id_std"].iloc[0])
    # A 3-sphere reads about 3 at every scale.
    assert np.allclose(table["id_mean"], 3, rtol=0.2)


def test_holm_adjustment_by_hand():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.2]), [0.04, 0.09, 0.09, 0.2])


def _resampled(profile, seed=0):
    rng = np.random.default_rng(seed)
    return [value + 0.05 * rng.standard_normal(30) for value in profile]


def test_one_hunchback_is_one_phase():
    analysis = expansion_contraction_phases(
        _resampled([3, 6, 12, 9, 5]), ["input", "c1", "c2", "c3", "fc"]
    )
    assert analysis.steps["sign"].tolist() == [1, 1, -1, -1]
    assert len(analysis.phases) == 1
    phase = analysis.phases[0]
    assert (phase.start_name, phase.peak_name, phase.end_name) == ("input", "c2", "fc")


def test_two_phases_and_none():
    two = expansion_contraction_phases(_resampled([3, 8, 4, 10, 2]))
    assert [(p.start, p.peak, p.end) for p in two.phases] == [(0, 1, 2), (2, 3, 4)]
    flat = expansion_contraction_phases(_resampled([5, 5, 5, 5]))
    assert flat.phases == []
    rising = expansion_contraction_phases(_resampled([1, 2, 3]))
    assert rising.phases == []


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), "NaN"),
        (np.zeros(10), "2D"),
        (np.zeros((2, 5)), "at least 3"),
    ],
)
def test_bad_points_raise_named_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        twonn(bad)


def test_bad_options_raise_named_errors():
    x = sphere(100, 2, seed=0)
    with pytest.raises(ValueError, match="fraction"):
        twonn(x, fraction=1.0)
    with pytest.raises(ValueError, match="square"):
        twonn(distances=np.zeros((4, 5)))
    with pytest.raises(ValueError, match="exactly one"):
        twonn(x, distances=cdist(x, x))
    with pytest.raises(ValueError, match="distinct points"):
        twonn(np.vstack([x[:2]] * 5))
    lattice = np.array([[i, j] for i in range(6) for j in range(6)], dtype=float)
    with pytest.raises(ValueError, match="tie"):
        twonn(lattice)  # every point has r1 == r2
    with pytest.raises(ValueError, match="chunk"):
        GramAccumulator(5).update(np.zeros((4, 3)))


def test_rows_float32_cannot_resolve_fall_back_to_float64_exactly():
    # Two clusters 2e4 apart with neighbours ~1e-3 apart: float32 Gram errors (~eps |x|^2)
    # dwarf the neighbour distances, so the proof fails and rows are redone in float64.
    rng = np.random.default_rng(14)
    x = np.vstack([c + 1e-3 * rng.standard_normal((600, 40)) for c in (-1e4, 1e4)])
    expected = cdist(x, x)
    np.fill_diagonal(expected, np.inf)
    expected.sort(axis=1)
    dist, _ = PointCloud(x, device="cpu").knn(3)
    np.testing.assert_allclose(dist, expected[:, :3], rtol=1e-6)


def test_integer_counts_tie_exactly_on_the_point_path():
    """Spike counts (integers) tie often; the point path must see r1 == r2 exactly, as the
    exact distance matrix does (on main it read 3.84 vs 3.42)."""
    counts = np.random.default_rng(3).poisson(2.0, size=(380, 8)).astype(np.float64)
    from_points = twonn(counts, device="cpu")
    from_matrix = twonn(distances=cdist(counts, counts))
    assert from_points.n_degenerate == from_matrix.n_degenerate > 0
    assert from_points.dimension == pytest.approx(from_matrix.dimension, abs=1e-9)


def test_a_coarse_integer_lattice_is_refused_not_estimated():
    """200 points on {0, 1, 2}^4: nearly every point has equidistant neighbours; main
    printed an ID of 3.5e15."""
    lattice = np.random.default_rng(0).integers(0, 3, size=(200, 4)).astype(np.float64)
    with pytest.raises(ValueError, match="tie"):
        twonn(lattice, device="cpu")


def test_streamed_gram_reads_each_row_once_and_gives_the_centred_gram_to_rounding():
    """The rows are read back once, in blocks of features (1, 3 or all 700 columns); every
    block width gives the Gram matrix of the centred rows up to the order of the float64
    sums (1e-12 of its largest entry) and the exact distances."""
    from prunedistill.distances import StreamingGram

    class RecordingSource:
        def __init__(self, rows):
            self.rows, self.reads = rows, []

        def __getitem__(self, index):
            self.reads.append(index)
            return self.rows[index]

    rng = np.random.default_rng(9)
    rows = np.maximum(rng.standard_normal((53, 700)) + 0.3, 0).astype(np.float32)
    centred = rows.astype(np.float64) - rows.astype(np.float64).mean(axis=0)
    reference = centred @ centred.T
    for width in (1, 3, 700):
        source = RecordingSource(rows)
        accumulator = StreamingGram(53, source, block_bytes=width * 53 * 8)
        for start in range(0, 53, 5):
            accumulator.update(rows[start:start + 5])
        assert source.reads == []  # nothing is read before all rows are in
        gram = accumulator.gram()
        assert [index[0] for index in source.reads] == [slice(None)] * -(-700 // width)
        assert [index[1].start for index in source.reads] == list(range(0, 700, width))
        np.testing.assert_allclose(gram, reference, rtol=0, atol=1e-12 * np.abs(reference).max())
        np.testing.assert_array_equal(gram, gram.T)
        distances = accumulator.distance_matrix().distances
        np.testing.assert_allclose(distances, cdist(rows.astype(np.float64),
                                                    rows.astype(np.float64)), atol=1e-9)
    early = StreamingGram(53, rows)
    early.update(rows[:5])
    with pytest.raises(ValueError, match="only 5 of 53 rows"):
        early.gram()
    with pytest.raises(ValueError, match="699 features; earlier ones had 700"):
        early.update(rows[5:10, :699])
