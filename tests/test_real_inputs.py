"""Real inputs: colour photographs through real ImageNet-trained networks, each network's own
resize and centre crop, weights by name, timm, factories with arguments."""

from pathlib import Path

import numpy as np
import pytest
import torch

from prunedistill._validation import PrunedistillError
from prunedistill.activations import ActivationStore, extract_to_store, resolve_layers
from prunedistill.models import load_model
from prunedistill.stimuli import from_arrays

SHARED_MOBILENET = Path(__file__).resolve().parents[2] / "shared" / "reference" / "weights" / \
    "mobilenet_v2_imagenet.pth"
needs_mobilenet = pytest.mark.skipif(not SHARED_MOBILENET.is_file(),
                                     reason="the real MobileNetV2 lives in ../shared/reference "
                                     "(absent in a user's clone)")
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def top5(model, image, tmp_path) -> set[int]:
    """The top-5 ImageNet classes of one photograph through the project's own path: colour
    array -> the network's resize and centre crop -> extraction of the logits layer."""
    shown = model.preprocessing
    stimuli = from_arrays(image[None], size=shown.input_size, resize_size=shown.resize_size,
                          interpolation=shown.interpolation)
    logits = resolve_layers(model, "checkpoints")[-1].name
    store = ActivationStore(extract_to_store(model, stimuli, [logits], tmp_path / "s.zarr",
                                             gram=False))
    return set(np.argsort(store.full(logits)[0])[-5:].tolist())


@pytest.mark.parametrize("name, trained", [
    pytest.param("mobilenet_v2", str(SHARED_MOBILENET), marks=needs_mobilenet),
    ("efficientnet_lite0", "trained"),
])
def test_a_cat_and_an_espresso_in_the_top5_of_real_networks_only(name, trained, tmp_path):
    from skimage import data

    for weights, expected in ((trained, True), ("untrained:0", False)):
        model = load_model(name, weights)
        cat = top5(model, data.chelsea(), tmp_path / "cat")
        coffee = top5(model, data.coffee(), tmp_path / "coffee")
        assert bool(cat & CATS) is expected, (weights, cat)
        assert (ESPRESSO in coffee) is expected, (weights, coffee)


def test_preprocessing_follows_the_weights_transforms():
    v1 = load_model("mobilenet_v2").preprocessing  # untrained twins: the classic V1 recipe
    assert (v1.input_size, v1.resize_size, v1.channels) == (224, 256, 3)
    assert "IMAGENET1K_V1" in v1.source
    from prunedistill.models import preprocessing_of

    v2 = preprocessing_of("resnet50", "IMAGENET1K_V2")
    assert (v2.input_size, v2.resize_size) == (224, 232)
    assert preprocessing_of("inception_v3").input_size == 299
    lite = load_model("efficientnet_lite0").preprocessing
    assert lite.mean == (0.5,) * 3 and lite.std == (0.5,) * 3  # inputs in [-1, 1]
    assert load_model("embedded").preprocessing.channels == 1


def test_resize_and_centre_crop_never_squash():
    """A 40 x 80 image with a red left half and a blue right half: the centre crop keeps
    both halves side by side; squashing would have kept them too, but a 2:1 red disc at the
    centre stays round (equal extent in x and y) only when the aspect is kept."""
    image = np.zeros((40, 80, 3), dtype=np.float32)
    yy, xx = np.mgrid[0:40, 0:80]
    image[(yy - 19.5) ** 2 + (xx - 39.5) ** 2 < 10 ** 2] = (1.0, 0.0, 0.0)
    fitted = from_arrays(image[None], size=20)["images"].values[0]
    assert fitted.shape == (3, 20, 20)
    red = fitted[0] > 0.5
    rows, columns = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert abs(len(rows) - len(columns)) <= 1  # a disc, not an ellipse
    assert len(rows) == pytest.approx(10, abs=1)  # 20 px across at 40 -> 10 px at 20


def test_colour_images_keep_their_channels_and_luma_is_bt601():
    from prunedistill.stimuli.pixels import LUMA_WEIGHTS
    from prunedistill.stimuli.properties import image_properties

    rng = np.random.default_rng(0)
    images = rng.random((6, 3, 16, 16), dtype=np.float32)
    stimuli = from_arrays(images)
    assert stimuli["images"].dims == ("stimulus", "channel", "y", "x")
    np.testing.assert_array_equal(stimuli["images"].values, images)
    expected = np.tensordot(LUMA_WEIGHTS, images, axes=([0], [1])).mean(axis=(1, 2))
    np.testing.assert_allclose(image_properties(stimuli)["luminance_global"], expected,
                               rtol=1e-6)


def test_a_folder_of_colour_photographs_stays_colour(tmp_path):
    from PIL import Image

    from prunedistill.stimuli import load_folder

    rng = np.random.default_rng(1)
    names = []
    for i, shape in enumerate([(30, 50), (48, 32), (40, 40)]):
        pixels = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(tmp_path / "g.png")
    names.append("g.png")
    (tmp_path / "metadata.csv").write_text(
        "file,object,view\n" + "".join(f"{n},o{i % 2},{i}\n" for i, n in enumerate(names)))
    colour = load_folder(tmp_path, size=24, resize_size=28)
    assert colour["images"].shape == (4, 3, 24, 24)
    gray_file = colour["images"].values[3]
    np.testing.assert_array_equal(gray_file[0], gray_file[2])  # a gray file, repeated
    gray = load_folder(tmp_path, size=24, resize_size=28, grayscale=True)
    assert gray["images"].dims == ("stimulus", "y", "x")
    with pytest.raises(ValueError, match="square and all the same size"):
        load_folder(tmp_path)


def test_a_gray_network_refuses_colour_and_a_colour_network_repeats_gray(tmp_path):
    colour = from_arrays(np.random.default_rng(2).random((4, 3, 64, 64), dtype=np.float32))
    embedded = load_model("embedded")
    with pytest.raises(PrunedistillError, match="takes gray images.*grayscale"):
        extract_to_store(embedded, colour, ["input"], tmp_path / "x.zarr")
    assert not (tmp_path / "x.zarr").exists()
    gray = torch.rand(2, 224, 224)
    x = load_model("mobilenet_v2").preprocessing(gray)
    assert x.shape == (2, 3, 224, 224)
    assert load_model("mobilenet_v2").preprocessing.colour_note(False) == \
        "gray images repeated over 3 channels"


def test_declared_preprocessing_and_factory_arguments(tmp_path):
    (tmp_path / "my_net.py").write_text(
        "from torch import nn\n\n"
        "def build(width=4, classes=3):\n"
        "    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
        "                         nn.Flatten(), nn.Linear(width, classes))\n")
    name = f"{tmp_path / 'my_net.py'}:build"
    model = load_model(name, arguments={"width": 6}, preprocessing={
        "size": 32, "resize_size": 36, "mean": [0.5], "std": [0.25]})
    assert model.module[0].out_channels == 6
    shown = model.preprocessing
    assert (shown.input_size, shown.resize_size, shown.channels) == (32, 36, 3)
    assert shown.mean == (0.5,) * 3 and "declared" in shown.source
    with pytest.raises(PrunedistillError, match="unexpected keyword"):
        load_model(name, arguments={"depth": 2})
    (tmp_path / "bad.py").write_text("def build():\n    return 42\n")
    with pytest.raises(PrunedistillError, match="not a torch nn.Module"):
        load_model(f"{tmp_path / 'bad.py'}:build")
    with pytest.raises(PrunedistillError, match="resize_size"):
        load_model(name, preprocessing={"size": 32, "resize_size": 16})


def test_a_factory_next_to_the_config_is_found(tmp_path, monkeypatch):
    from prunedistill.config import load_config

    study = tmp_path / "study"
    study.mkdir()
    (study / "lab_net.py").write_text(
        "from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(1, 2, 3))\n")
    (study / "study.yaml").write_text("networks:\n  - model: lab_net:build\n    trained: null\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    config = load_config(study / "study.yaml")
    assert config.networks[0].model == f"{(study / 'lab_net.py').resolve()}:build"
    assert load_model(config.networks[0].model).module[0].out_channels == 2


timm = pytest.importorskip("timm", reason="timm is an optional extra")


def test_timm_models_untrained_with_their_data_config_and_feature_stages():
    model = load_model("timm:resnet18", "untrained:3")
    shown = model.preprocessing
    assert (shown.input_size, shown.resize_size, shown.interpolation) == (224, 235, "bicubic")
    assert shown.source == "timm data config"
    names = [i.name for i in resolve_layers(model, "checkpoints")]
    assert names == ["input", "act1", "maxpool", "layer1", "layer2", "layer3", "layer4",
                     "global_pool.pool", "fc"]  # the stages timm lists, pooling, the head
    again = load_model("timm:resnet18", "untrained:3")
    assert torch.equal(again.module.fc.weight, model.module.fc.weight)
    with pytest.raises(PrunedistillError, match="Close names: resnet18"):
        load_model("timm:resnet81")


def test_timm_weights_from_a_file_and_from_the_hub_cache(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    source = load_model("timm:resnet18", "untrained:7").module
    path = tmp_path / "resnet18.safetensors"
    save_file(source.state_dict(), str(path))
    loaded = load_model("timm:resnet18", str(path))
    assert torch.equal(loaded.module.fc.weight, source.fc.weight) and loaded.sha256
    with pytest.raises(PrunedistillError, match="not in the hub cache.*huggingface.co/timm"):
        load_model("timm:resnet18.a1_in1k", "trained")
    # the file placed where huggingface_hub's cache keeps it is found offline
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    save_file(source.state_dict(), str(repo / "snapshots" / ("0" * 40) / "model.safetensors"))
    cached = load_model("timm:resnet18.a1_in1k", "trained")
    assert torch.equal(cached.module.fc.weight, source.fc.weight)


@needs_mobilenet
def test_the_embedded_cnn_and_a_real_mobilenet_side_by_side_in_one_study(tmp_path):
    """Each network gets the rendered set at its own size (64 px gray, 224 px repeated over
    RGB) in one study, and the report shows both."""
    import json

    import pandas as pd

    from prunedistill.config import validate_config
    from prunedistill.pipeline import run_study

    config = validate_config({
        "output": str(tmp_path / "out"), "stimuli": {"objects": ["bunny", "duck"]},
        "networks": [{"model": "embedded", "untrained_seeds": [0]},
                     {"model": "mobilenet_v2", "trained": str(SHARED_MOBILENET),
                      "untrained_seeds": [0]}],
        "dimension": {"points": "stimuli", "repeats": 3, "max_blocks": 2},
        "information": {"units_per_layer": 20, "shuffles": 2, "invariance_sweep": [0.9],
                        "receptive_fields": "full_field"},
        "decoding": {"single_units": 5, "population_sizes": [6], "resamples": 1},
        "comparison": {"bootstrap": 10, "coupling_permutations": 20},
        "executor": {"workers": 1}})
    run_study(config, quiet=True)
    out = tmp_path / "out"
    sizes = sorted(json.loads((entry / "manifest.json").read_text())["format"]["size"]
                   for entry in (out / "cache" / "stimuli").iterdir())
    assert sizes == [64, 224]
    dimension = pd.read_csv(out / "report" / "tables" / "dimension.csv")
    assert set(dimension["network"]) == {"embedded", "mobilenet_v2"}
    inputs = dimension[dimension.layer == "input"].set_index(["network", "weights"])
    assert inputs["n_points"].eq(76).all()
    records = [json.loads(p.read_text()) for p in (out / "cache" / "networks").glob("*/*.json")
               if p.name == "network.json"]
    mobilenet = [r for r in records if r["model"] == "mobilenet_v2"]
    assert {r["input"]["colour"] for r in mobilenet} == {"gray images repeated over 3 channels"}
    assert {r["units"]["input"] for r in mobilenet} == {3 * 224 * 224}
    html = (out / "report" / "report.html").read_text()
    assert "mobilenet_v2" in html and "embedded" in html
    assert "<b>mobilenet_v2</b>: 224 px, gray images repeated over 3 channels" in html


def test_a_gray_network_on_colour_photographs_is_a_config_error_before_any_work(tmp_path):
    from PIL import Image

    from prunedistill.config import ConfigError, validate_config
    from prunedistill.pipeline import run_study

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(folder /
                                                                                 f"{i}.jpg")
    (folder / "metadata.csv").write_text("file,object,view\n" + "".join(
        f"{i}.jpg,o{i % 2},{i}\n" for i in range(4)))
    data = {"output": str(tmp_path / "out"), "stimuli": {"set": "folder",
                                                         "folder": str(folder)}}
    with pytest.raises(ConfigError, match="takes gray images.*stimuli.grayscale: true"):
        run_study(validate_config(data), quiet=True)
    assert not (tmp_path / "out" / "cache").exists() or not any(
        (tmp_path / "out" / "cache").rglob("*.zarr"))


def _natural_crops(folder, n: int) -> None:
    """``n`` crops of scikit-image's photographs (colour, varied sizes) as PNG files."""
    from PIL import Image
    from skimage import data

    photos = [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = rng.integers(90, 150), rng.integers(90, 200)
        y, x = rng.integers(0, photo.shape[0] - h), rng.integers(0, photo.shape[1] - w)
        Image.fromarray(photo[y:y + h, x:x + w]).save(folder / f"crop{i:02d}.png")


def test_a_folder_of_natural_images_as_the_id_points(tmp_path):
    """dimension.points names a folder: its images (colour, any size) are fitted to the
    network's input (luma for the gray embedded CNN) and are the points of every layer's
    ID; a folder below the minimum is a config error naming it, before any work. The
    network has no untrained twin: the report says verdicts are impossible and why, and
    still reports the rest."""
    import pandas as pd

    from prunedistill.config import MIN_ID_POINTS, ConfigError, validate_config
    from prunedistill.pipeline import run_study
    from prunedistill.stimuli import load_stimuli

    _natural_crops(tmp_path / "natural", 30)
    data = {"output": str(tmp_path / "out"), "stimuli": {"objects": ["bunny", "duck"]},
            "networks": [{"model": "embedded", "untrained_seeds": []}],
            "dimension": {"points": str(tmp_path / "natural"), "repeats": 3, "max_blocks": 2},
            "information": {"units_per_layer": 20, "shuffles": 2, "invariance_sweep": [0.9],
                            "receptive_fields": "full_field"},
            "decoding": {"enabled": False},
            "comparison": {"bootstrap": 10, "coupling_permutations": 20},
            "executor": {"workers": 1}}
    run_study(validate_config(data), quiet=True)
    out = tmp_path / "out"
    dimension = pd.read_csv(out / "report" / "tables" / "dimension.csv")
    assert dimension["n_points"].eq(30).all() and np.isfinite(dimension["id_mean"]).all()
    [entry] = (out / "cache" / "id_points").iterdir()
    points = load_stimuli(entry / "points.zarr")
    assert points["images"].shape == (30, 64, 64)  # luma, shorter side to 64, centre crop
    page = (out / "report" / "report.html").read_text()
    assert "every image in the folder" in page
    assert "No pruning or distillation verdicts</b>: this network has no untrained twins" \
        in page
    assert "<b>embedded</b>: no untrained instance (untrained_seeds is empty)" in page
    assert (out / "report" / "figures" / "dimension_profile.png").exists()
    assert not (out / "report" / "tables" / "verdicts.csv").exists()

    _natural_crops(tmp_path / "few", MIN_ID_POINTS - 1)
    data.update(output=str(tmp_path / "out2"),
                dimension={"points": str(tmp_path / "few")})
    with pytest.raises(ConfigError, match=f"19 image.*at least {MIN_ID_POINTS}"):
        run_study(validate_config(data), quiet=True)
    assert not (tmp_path / "out2" / "cache").exists() or not any(
        (tmp_path / "out2" / "cache").rglob("*.zarr"))
