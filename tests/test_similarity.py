"""Linear CKA and RSA from distance matrices."""

import numpy as np

from prunedistill.similarity import centred_gram, euclidean_distances, linear_cka, rsa


def test_centred_gram_from_distances_equals_the_centred_gram_of_the_points():
    x = np.random.default_rng(0).normal(size=(30, 7)) + 5.0
    centred = x - x.mean(axis=0)
    np.testing.assert_allclose(centred_gram(euclidean_distances(x)), centred @ centred.T,
                               atol=1e-9)


def test_cka_is_one_under_rotation_scale_and_shift_and_low_for_independent_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 10))
    rotation, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    y = 3.0 * x @ rotation + 7.0
    assert abs(linear_cka(euclidean_distances(x), euclidean_distances(y)) - 1) < 1e-9
    z = rng.normal(size=(100, 10))
    assert linear_cka(euclidean_distances(x), euclidean_distances(z)) < 0.3


def test_rsa_is_rank_based():
    x = np.random.default_rng(2).normal(size=(40, 5))
    d = euclidean_distances(x)
    assert abs(rsa(d, d ** 3 + 1) - 1) < 1e-12  # any monotone transform
    assert abs(rsa(d, -d) + 1) < 1e-12
