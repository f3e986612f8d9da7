"""Model registry, weights and layer extraction."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from prunedistill.activations import (
    ActivationStore,
    LayerTap,
    extract_to_store,
    list_layers,
    resolve_layers,
)
from prunedistill.models import EMBEDDED_RECORD, load_model
from prunedistill.models.registry import embedded_instance_file, embedded_instances
from prunedistill.models.training import TrainingConfig, accuracy, held_out_set


@pytest.fixture(scope="module")
def images64():
    return np.random.default_rng(0).random((24, 64, 64)).astype(np.float32)


def test_extraction_equals_a_direct_forward_of_the_subnetwork(images64):
    model = load_model("embedded", "untrained:0")
    layers = resolve_layers(model, ["features.conv2_1", "features.relu2_1", "classifier.fc1"])
    outputs = LayerTap(model, layers)(images64[:5])
    x = torch.from_numpy(images64[:5])[:, None]
    with torch.no_grad():
        features = model.module.features
        names = list(dict(features.named_children()))
        conv = features[: names.index("conv2_1") + 1](x)
        relu = features[: names.index("relu2_1") + 1](x)
        fc1 = model.module.classifier[:2](features(x))
    torch.testing.assert_close(outputs["features.conv2_1"], conv.flatten(1), rtol=0, atol=0)
    torch.testing.assert_close(outputs["features.relu2_1"], relu.flatten(1), rtol=0, atol=0)
    torch.testing.assert_close(outputs["classifier.fc1"], fc1, rtol=0, atol=0)
    assert (outputs["features.conv2_1"] < 0).any()


def test_vgg16_first_conv_keeps_its_negatives():
    model = load_model("vgg16", "untrained:0")
    assert any(getattr(m, "inplace", False) for m in model.module.modules())
    images = np.random.default_rng(1).random((2, 224, 224)).astype(np.float32)
    out = LayerTap(model, resolve_layers(model, ["features.0", "features.1"]))(images)
    negative = float((out["features.0"] < 0).float().mean())
    assert 0.3 < negative < 0.7
    assert float(out["features.1"].min()) == 0.0
    torch.testing.assert_close(out["features.1"], out["features.0"].clamp(min=0))


def test_vgg11_extraction_equals_direct_forward():
    model = load_model("vgg11", "untrained:2")
    images = np.random.default_rng(2).random((2, 224, 224)).astype(np.float32)
    out = LayerTap(model, resolve_layers(model, ["features.2", "classifier.0"]))(images)
    x = model.preprocessing(images)
    with torch.no_grad():
        reference = model.module.features[:3](x.clone())
        fc = model.module.classifier[0](torch.flatten(model.module.avgpool(
            model.module.features(x.clone())), 1))
    torch.testing.assert_close(out["features.2"], reference.flatten(1))
    torch.testing.assert_close(out["classifier.0"], fc)


@pytest.mark.parametrize("block_bytes", [None, 24 * 1000 * 8])
def test_streamed_gram_gives_the_full_distance_matrix(tmp_path, images64, monkeypatch,
                                                       block_bytes):
    """Also with the layer read back in float64 blocks of 1,000 units (several per layer)."""
    import prunedistill.distances

    if block_bytes is not None:
        monkeypatch.setattr(prunedistill.distances, "_BLOCK_BYTES", block_bytes)
    model = load_model("embedded", "untrained:0")
    path = extract_to_store(model, images64, "checkpoints", tmp_path / "act.zarr",
                            batch_size=5, subset_size=50)
    store = ActivationStore(path)
    for layer in ("input", "features.pool1", "classifier.fc2"):
        full = store.full(layer)[:].astype(np.float64)
        np.testing.assert_allclose(store.distances(layer).distances, cdist(full, full),
                                   rtol=1e-9, atol=1e-9)
        subset = store.subset(layer)
        np.testing.assert_array_equal(subset.values, full[:, subset.unit.values])
    assert store.attrs["model"]["weights"] == "untrained:0"
    assert store.subset("features.pool1").sizes["unit"] == 50


def test_the_gram_matrix_is_the_same_with_or_without_the_full_store(tmp_path, images64,
                                                                    monkeypatch):
    """Without keep_full the rows go to a scratch act array inside the store being written,
    which the Gram matrix reads back and which is deleted before the store is published:
    the same sums to the bit as from the kept act array, nothing of it left behind, and
    nothing left by a failed extraction either."""
    import zarr

    import prunedistill.distances

    monkeypatch.setattr(prunedistill.distances, "_BLOCK_BYTES", 24 * 300 * 8)
    model = load_model("embedded", "untrained:0")
    grams = {}
    for keep_full in (True, False):
        path = extract_to_store(model, images64, "checkpoints", tmp_path / f"{keep_full}.zarr",
                                batch_size=5, subset_size=50, keep_full=keep_full)
        root = zarr.open_group(str(path), mode="r")
        grams[keep_full] = {layer: root[layer]["gram"][:] for layer in root.attrs["layers"]}
        assert not (path / ".gram_rows").exists()
        assert ("act" in root["features.pool1"]) == keep_full
    for layer, gram in grams[True].items():
        np.testing.assert_array_equal(grams[False][layer], gram)

    def failing_gram(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(prunedistill.distances.StreamingGram, "gram", failing_gram)
    with pytest.raises(RuntimeError, match="disk full"):  # after every batch was written
        extract_to_store(model, images64, "checkpoints", tmp_path / "failed.zarr",
                         batch_size=5, keep_full=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["False.zarr", "True.zarr"]


def test_act_chunks_keep_one_column_of_chunks_within_the_gram_read():
    from prunedistill.activations import _ACT_READ_BYTES, _act_chunk_width

    assert _act_chunk_width(380, 32, 802816) == 32768  # 4 MiB chunks for 32 stimuli
    assert _act_chunk_width(380, 32, 1000) == 1000
    for n_stimuli in (2048, 5000, 20000, 65536):
        width = _act_chunk_width(n_stimuli, 32, 802816)
        assert 1024 <= width <= 32768 and n_stimuli * width * 4 <= _ACT_READ_BYTES
    assert _act_chunk_width(10**6, 32, 802816) == 1024  # the floor, past the read budget


def test_duplicate_stimuli_are_known_from_the_store(tmp_path, images64):
    images = np.concatenate([images64[:6], images64[:2]])
    model = load_model("embedded", "untrained:0")
    store = ActivationStore(extract_to_store(model, images, ["features.pool2"],
                                             tmp_path / "a.zarr", batch_size=3, keep_full=False))
    assert len(store.distances("features.pool2").unique_index()) == 6
    with pytest.raises(ValueError, match="not kept"):
        store.full("features.pool2")


def test_untrained_seeds_reproduce_and_differ():
    a, b = load_model("resnet18", "untrained:3"), load_model("resnet18", "untrained:3")
    c = load_model("resnet18", "untrained:4")
    for (name, pa), pb, _pc in zip(a.module.state_dict().items(), b.module.state_dict().values(),
                                  c.module.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.module.conv1.weight, c.module.conv1.weight)


@pytest.mark.parametrize("seed", embedded_instances())
def test_committed_weights_reach_the_recorded_accuracy(seed):
    """Every committed instance (trained:<seed>) reproduces its record's held-out accuracy
    on the held-out renders of its own seed."""
    record = json.loads(embedded_instance_file(seed).with_suffix(".json").read_text())
    assert record["seed"] == seed and record["training_config"]["seed"] == seed
    model = load_model("embedded", f"trained:{seed}")
    assert model.sha256 == record["sha256"]
    images, labels = held_out_set(TrainingConfig(**record["training_config"]))
    assert len(labels) == record["held_out_images"]
    # Same renders, same weights: the recorded figure up to a prediction flipped by BLAS
    # rounding on another machine.
    assert accuracy(model.module, images, labels) == pytest.approx(record["held_out_accuracy"],
                                                                    abs=0.003)
    assert record["held_out_accuracy"] >= 0.8


def test_three_trained_instances_are_committed_and_differ():
    """The network-level tests need several trained instances: seeds 0, 1, 2 (at least),
    trained by one recipe that differs only in the seed."""
    seeds = embedded_instances()
    assert seeds[:3] == [0, 1, 2]
    records = [json.loads(embedded_instance_file(s).with_suffix(".json").read_text())
               for s in seeds]
    recipes = [{k: v for k, v in r["training_config"].items() if k not in ("seed", "threads")}
               for r in records]
    assert all(recipe == recipes[0] for recipe in recipes)
    assert len({r["sha256"] for r in records}) == len(seeds)
    assert load_model("embedded", "trained").sha256 == records[0]["sha256"]


def test_weights_that_differ_from_their_record_are_refused(tmp_path):
    import shutil

    from prunedistill.models.registry import weights_identity

    weights = tmp_path / "mine.pt"
    shutil.copy(embedded_instance_file(0), weights)
    shutil.copy(EMBEDDED_RECORD, weights.with_suffix(".json"))
    assert load_model("embedded", str(weights)).sha256 == json.loads(
        EMBEDDED_RECORD.read_text())["sha256"]
    state = torch.load(weights, weights_only=True)
    state["classifier.fc1.bias"] += 1e-3
    torch.save(state, weights)
    for resolve in (lambda: load_model("embedded", str(weights)),
                    lambda: weights_identity("embedded", str(weights))):
        with pytest.raises(ValueError, match="differ from their training record mine.json"):
            resolve()
    with pytest.raises(FileNotFoundError, match="seed 7.*Committed instances: trained:0"):
        load_model("embedded", "trained:7")
    with pytest.raises(ValueError, match="only the embedded CNN has committed instances"):
        load_model("vgg11", "trained:1")


def test_weights_from_the_hub_cache_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="resnet18-f37072fd.pth"):
        load_model("resnet18", "trained")
    source = load_model("resnet18", "untrained:5")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    checkpoints = tmp_path / "hub" / "checkpoints"
    torch.save(source.module.state_dict(), checkpoints / "resnet18-f37072fd.pth")
    loaded = load_model("resnet18", "trained")
    assert torch.equal(loaded.module.fc.weight, source.module.fc.weight)
    assert len(loaded.sha256) == 64
    with pytest.raises(FileNotFoundError, match="looked for"):
        load_model("resnet18", str(tmp_path / "nothing.pth"))


def test_weights_that_do_not_fit_name_the_keys(tmp_path):
    torch.save(load_model("embedded", "untrained:0").module.state_dict(), tmp_path / "e.pt")
    with pytest.raises(ValueError, match="do not fit.*missing keys"):
        load_model("alexnet", str(tmp_path / "e.pt"))
    with pytest.raises(ValueError, match="wrong shapes"):
        load_model("embedded", str(tmp_path / "e.pt"), n_classes=7)


def test_unknown_names_and_wrong_inputs(images64):
    with pytest.raises(ValueError, match="Valid: embedded"):
        load_model("vgg17")
    model = load_model("embedded", "untrained:0")
    with pytest.raises(ValueError, match="features.pool1"):
        resolve_layers(model, ["features.pool9"])
    with pytest.raises(ValueError, match="expects 64 x 64"):
        LayerTap(model, resolve_layers(model, ["features.pool1"]))(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match="untrained:<integer seed>"):
        load_model("embedded", "untrained:x")


def test_custom_module_by_import_path(tmp_path):
    model = load_model("custom_net:build", "untrained:0")
    layers = list_layers(model, input_size=16)
    assert [layer.name for layer in layers] == ["input", "0", "1", "2", "3", "4"]
    images = np.random.default_rng(0).random((6, 16, 16)).astype(np.float32)
    store = ActivationStore(extract_to_store(model, images, "all", tmp_path / "c.zarr"))
    assert store.layers == ["input", "0", "1", "2", "4"]
    assert (store.full("0")[:] < 0).any()


def test_failed_extraction_leaves_no_store(tmp_path, images64):
    model = load_model("embedded", "untrained:0")
    with torch.no_grad():
        model.module.features.conv1_1.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        extract_to_store(model, images64, "checkpoints", tmp_path / "bad.zarr")
    assert not (tmp_path / "bad.zarr").exists()
    assert not list(tmp_path.glob("bad.zarr*"))


def test_resnet_checkpoints_are_block_outputs_and_reused_modules_give_their_last_output():
    model = load_model("resnet18", "untrained:0")
    layers = resolve_layers(model, "checkpoints")
    names = [layer.name for layer in layers]
    assert names[:3] == ["input", "maxpool", "layer1.0"] and names[-2:] == ["avgpool", "fc"]
    assert len([n for n in names if n.startswith("layer")]) == 8
    images = np.random.default_rng(3).random((2, 224, 224)).astype(np.float32)
    relu = resolve_layers(model, ["layer1.0.relu", "layer1.0"])
    assert relu[0].calls == 2
    out = LayerTap(model, relu)(images)
    # The block's second ReLU is its output: the reused module's last call.
    torch.testing.assert_close(out["layer1.0.relu"], out["layer1.0"])


def test_a_factory_models_key_follows_its_source(tmp_path, monkeypatch):
    from prunedistill.models.registry import model_fingerprint

    source = tmp_path / "my_nets.py"
    source.write_text("from torch import nn\n\ndef make():\n    return nn.Conv2d(1, 4, 3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = model_fingerprint("my_nets:make")
    source.write_text("from torch import nn\n\ndef make():\n    return nn.Conv2d(1, 8, 3)\n")
    assert model_fingerprint("my_nets:make") != before
    assert model_fingerprint("embedded") == model_fingerprint("vgg11")  # library versions


def test_a_pickled_model_is_refused_without_advising_the_unsafe_loader(tmp_path):
    """On main the message repeated torch's advice to pass weights_only=False."""
    whole = load_model("embedded", "untrained:0").module
    torch.save(whole, tmp_path / "whole_model.pt")  # a pickle of code, not a state dict
    with pytest.raises(ValueError) as error:
        load_model("embedded", str(tmp_path / "whole_model.pt"))
    message = str(error.value)
    assert "safe loader" in message and "torch.save(model.state_dict(), PATH)" in message
    assert "weights_only=False" not in message


def test_weights_trained_on_fewer_objects_load_back_with_their_record(tmp_path):
    """On main the output layer was fixed at 50 classes: `train --objects 5` weights did not
    load. The record written beside the weights says how to build the network."""
    from prunedistill.models import EmbeddedCNN
    from prunedistill.models.training import save_trained

    torch.manual_seed(0)
    trained = EmbeddedCNN(n_classes=5)
    weights, _ = save_trained(trained, {"architecture": trained.architecture}, tmp_path)
    model = load_model("embedded", str(weights))
    assert model.module.n_classes == 5
    assert model.extra["training_record"] == str(tmp_path / "embedded_cnn.json")
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.module(x), trained.eval()(x))


def test_torchvision_weights_by_enum_name_offline_then_placed(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(FileNotFoundError) as error:
        load_model("resnet18", "IMAGENET1K_V1")
    message = str(error.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert str(target) in message and "PRUNEDISTILL_OFFLINE" in message
    with pytest.raises(ValueError, match="no weights named 'IMAGENET1K_V9'.*IMAGENET1K_V1"):
        load_model("resnet18", "IMAGENET1K_V9")
    target.parent.mkdir(parents=True)
    torch.save(load_model("resnet18", "untrained:3").module.state_dict(), target)
    loaded = load_model("resnet18", "IMAGENET1K_V1")
    assert loaded.describe()["weights_name"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert load_model("resnet18", "trained").describe()["weights_name"] == \
        "ResNet18_Weights.IMAGENET1K_V1"  # what `trained` stood for, recorded


def test_torchvision_weights_are_fetched_with_the_hub_hash_check(tmp_path, monkeypatch):
    """Tested up to the download: torch.hub's fetch is replaced by one that places the
    file, as the real one would after checking the hash prefix of its name."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("PRUNEDISTILL_OFFLINE", "0")
    state = load_model("resnet18", "untrained:4").module.state_dict()
    calls = []

    def fetch(url, dst, hash_prefix=None, progress=True):
        calls.append((url, Path(dst).name, hash_prefix))
        torch.save(state, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fetch)
    loaded = load_model("resnet18", "DEFAULT")
    assert calls == [("https://download.pytorch.org/models/resnet18-f37072fd.pth",
                      "resnet18-f37072fd.pth", "f37072fd")]
    assert torch.equal(loaded.module.fc.weight, state["fc.weight"])

    def unreachable(url, dst, hash_prefix=None, progress=True):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    (tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth").unlink()
    with pytest.raises(FileNotFoundError, match="could not download.*name resolution.*save it"):
        load_model("resnet18", "IMAGENET1K_V1")


def test_a_layer_name_typo_suggests_the_closest_names():
    model = load_model("embedded", "untrained:0")
    with pytest.raises(ValueError,
                       match=r"'features\.conv1_l': did you mean [^?]*features\.conv1_1"):
        resolve_layers(model, ["features.conv1_l"])


def test_any_module_is_tappable_blocks_and_containers_included(tmp_path):
    """On main only leaves and ResNet blocks were: mobilenet_v2's `features.2` (an
    InvertedResidual) was an unknown layer."""
    model = load_model("mobilenet_v2", "untrained:0")
    images = np.random.default_rng(0).random((3, 224, 224), dtype=np.float32)
    tap = LayerTap(model, resolve_layers(model, ["features.2", "features"]))
    with tap:
        outputs = tap(images)
    assert outputs["features.2"].shape == (3, 24 * 56 * 56)
    assert outputs["features"].shape == (3, 1280 * 7 * 7)
    with torch.no_grad():  # the block's own output, computed by hand
        x = model.preprocessing(images)
        expected = model.module.features[:3](x).flatten(1)
    assert torch.allclose(outputs["features.2"], expected, atol=1e-5)


@pytest.mark.parametrize("name, blocks, count", [
    ("mobilenet_v2", "InvertedResidual", 17),
    ("vit_b_16", "EncoderBlock", 12),
    ("densenet121", "_DenseBlock", 4),
    ("convnext_tiny", "CNBlock", 18),
])
def test_checkpoints_are_the_block_outputs_of_every_family(name, blocks, count, capsys):
    """On main mobilenet_v2's checkpoints were `input` and `classifier.1` only, and ViT's
    were MLP sublayers."""
    from prunedistill.activations import checkpoint_rule, list_layers
    from prunedistill.cli import main

    model = load_model(name, "untrained:0")
    available = list_layers(model)
    chosen = resolve_layers(model, "checkpoints", available)
    kinds = [type(model.module.get_submodule(i.name)).__name__ for i in chosen[1:]]
    assert kinds.count(blocks) == count
    names = [i.name for i in chosen]
    assert not any(a != b and a.startswith(b + ".") for a in names for b in names)  # outermost
    assert "MLPBlock" not in kinds and blocks in checkpoint_rule(model, available)
    if name == "mobilenet_v2":
        assert "features.2" in names
        assert main(["layers", name]) == 0
        assert "checkpoints rule: the input, the outputs of the outermost InvertedResidual" \
            in capsys.readouterr().out


def test_outputs_followed_by_in_place_operations_are_captured_before_them():
    """The tap keeps the network's in-place ReLUs and residual additions: each hook copies
    its module's output before a later in-place operation overwrites that tensor."""
    model = load_model("resnet18", "untrained:1")
    assert model.module.relu.inplace  # the in-place ReLU after bn1
    images = np.random.default_rng(2).random((2, 224, 224)).astype(np.float32)
    layers = resolve_layers(model, ["bn1", "layer1.0.bn2", "layer1.0"])
    with LayerTap(model, layers) as tap:
        out = tap(images)
    net = model.module.eval()
    with torch.no_grad():
        x = model.preprocessing(images)
        bn1 = net.bn1(net.conv1(x))
        block = net.layer1[0]
        start = net.maxpool(torch.relu(bn1))
        bn2 = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(start)))))
        after = torch.relu(bn2 + start)
    assert (bn1 < 0).any() and (bn2 < 0).any()  # ReLU and += would have changed them
    torch.testing.assert_close(out["bn1"], bn1.flatten(1))
    torch.testing.assert_close(out["layer1.0.bn2"], bn2.flatten(1))
    torch.testing.assert_close(out["layer1.0"], after.flatten(1))
