"""The torch paths that a GPU runs (information.device: cuda; TwoNN and the Gram matrix on a
device), run here on torch's CPU device (a ``torch.device`` object always selects torch)
and compared with the numpy paths: exact where the arithmetic is in integers, to rounding
where it is in floats."""

import numpy as np
import pytest
import torch

from prunedistill.analysis import InformationOptions, analyse_layer
from prunedistill.distances import GramAccumulator, PointCloud, device_matmul
from prunedistill.information import _class_histogram_keys, mutual_information
from prunedistill.stimuli import tafazoli
from prunedistill.stimuli.properties import orientation_energy, rf_statistics

TORCH_CPU = torch.device("cpu")


def test_device_matmul_is_numpy_on_cpu_and_torch_elsewhere():
    a, b = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
    np.testing.assert_array_equal(device_matmul(a, b, "cpu"), a @ b)
    np.testing.assert_array_equal(device_matmul(a, b, TORCH_CPU), a @ b)


@pytest.mark.parametrize("radix", [20, 300])  # float32 keys on the CPU, float64 everywhere
def test_shuffled_histogram_keys_on_a_device_equal_the_cpus_to_the_bit(radix):
    rng = np.random.default_rng(0)
    binned = rng.integers(0, 3, (40, 150))
    codes = rng.integers(0, 9, (1, 150))
    orders = np.array([np.arange(150), *[rng.permutation(150) for _ in range(30)]])
    cpu = _class_histogram_keys(binned, 3, codes, 9, orders, radix)
    device = _class_histogram_keys(binned, 3, codes, 9, orders, radix, TORCH_CPU)
    np.testing.assert_array_equal(device, cpu)
    result = mutual_information(binned, codes[0], n_shuffles=30, device=TORCH_CPU)
    reference = mutual_information(binned, codes[0], n_shuffles=30)
    np.testing.assert_array_equal(result.information, reference.information)
    np.testing.assert_array_equal(result.p_value, reference.p_value)


@pytest.fixture(scope="module")
def stimuli():
    return tafazoli(32, objects=("bunny", "duck", "procedural:6"))


def _maps(n_units, size, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    cx, cy = rng.uniform(4, size - 4, n_units), rng.uniform(4, size - 4, n_units)
    return np.exp(-((x - cx[:, None, None]) ** 2 + (y - cy[:, None, None]) ** 2) / 30.0
                  ).astype(np.float32)


def test_rf_statistics_on_a_device_equal_the_cpus_to_rounding(stimuli):
    images = stimuli["images"].values
    maps = _maps(30, images.shape[-1], 1)
    cpu = rf_statistics(images, maps, deg_per_pixel=stimuli.attrs["deg_per_pixel"])
    device = rf_statistics(images, maps, deg_per_pixel=stimuli.attrs["deg_per_pixel"],
                           device=TORCH_CPU)
    for name, values in cpu.items():
        np.testing.assert_allclose(device[name], values, rtol=1e-12, atol=1e-15)


def test_a_layer_analysed_on_a_device_equals_the_cpu_analysis(stimuli):
    rng = np.random.default_rng(2)
    images = stimuli["images"].values
    n = images.shape[0]
    responses = np.maximum(rng.standard_normal((25, 6)) @ rng.standard_normal((6, n)), 0)
    maps = _maps(25, images.shape[-1], 3)
    energy = orientation_energy(images, stimuli.attrs["deg_per_pixel"])
    cpu = analyse_layer(responses, stimuli, maps, InformationOptions(shuffles=20),
                        energy_maps=energy)
    device = analyse_layer(responses, stimuli, maps,
                           InformationOptions(shuffles=20, device=TORCH_CPU),
                           energy_maps=energy)
    for name in cpu.data_vars:
        np.testing.assert_allclose(device[name].values, cpu[name].values, rtol=0,
                                   atol=1e-12, err_msg=name)


def test_twonn_candidates_on_a_device_give_the_cpus_neighbours():
    rng = np.random.default_rng(4)
    x = np.maximum(rng.standard_normal((600, 8)) @ rng.standard_normal((8, 300)) + 0.2, 0)
    x = x.astype(np.float32)
    cpu = PointCloud(x, device="cpu").knn(3)
    on_device = PointCloud(x, device="cpu")
    on_device.device = TORCH_CPU  # the GPU's candidate search, here on torch's CPU device
    device = on_device.knn(3)
    np.testing.assert_array_equal(device[0], cpu[0])
    np.testing.assert_array_equal(device[1], cpu[1])


def test_the_gram_accumulator_on_a_device_equals_the_cpus_to_rounding():
    rng = np.random.default_rng(5)
    chunks = [rng.standard_normal((40, 70)).astype(np.float32) + 5 for _ in range(3)]
    cpu = GramAccumulator(40, device="cpu")
    device = GramAccumulator(40, device="cpu")
    device.device = TORCH_CPU
    device._gram = torch.zeros((40, 40), dtype=torch.float64)
    for chunk in chunks:
        cpu.update(chunk)
        device.update(chunk)
    np.testing.assert_allclose(device.gram(), cpu.gram(), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(device.distance_matrix().distances,
                               cpu.distance_matrix().distances, rtol=1e-12, atol=1e-9)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_a_named_error(stimuli, tmp_path):
    from prunedistill.config import ConfigError, load_config

    responses = np.random.default_rng(6).random((3, stimuli.sizes["stimulus"]))
    with pytest.raises(ValueError, match="no GPU is available"):
        analyse_layer(responses, stimuli, _maps(3, 32, 7), InformationOptions(device="cuda"))
    config = tmp_path / "study.yaml"
    config.write_text("information:\n  device: gpu\n")
    with pytest.raises(ConfigError, match="information.device"):
        load_config(config)
    config.write_text("information:\n  device: cuda:1\n")
    assert load_config(config).information.device == "cuda:1"
