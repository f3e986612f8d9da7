"""Models and images in memory: one call to result tables, in a notebook or a plain script."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from prunedistill._validation import PrunedistillError
from prunedistill.analysis import DecodingOptions
from prunedistill.models import load_model
from prunedistill.pipeline import analyse
from prunedistill.stimuli import from_arrays

SCRIPT = '''
import numpy as np, torch
from torch import nn
from prunedistill.pipeline import analyse

torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                    nn.Flatten(), nn.Linear(256, 10))
rng = np.random.default_rng(0)
centres = rng.uniform(8, 24, size=(200, 2))  # a blob at 200 positions: two parameters
yy, xx = np.mgrid[0:32, 0:32]
images = np.exp(-((yy[None] - centres[:, 0, None, None]) ** 2
                  + (xx[None] - centres[:, 1, None, None]) ** 2) / 18.0)
tables = analyse(net, images.astype(np.float32))
print(tables["dimension"].set_index("layer")["id"].to_json())
'''


def test_a_plain_script_gets_tables_in_one_call(tmp_path):
    """No main guard: the study's spawn pool re-executed such a file (BrokenProcessPool);
    this path runs in one process. The blob family has two parameters: ID 2 at the input."""
    path = tmp_path / "notebook_like.py"
    path.write_text(SCRIPT)
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    ids = json.loads(run.stdout.strip().splitlines()[-1])
    assert ids["input"] == pytest.approx(2.0, abs=0.3)
    assert list(ids) == ["input", "2", "5", "7"]


def test_objects_and_views_in_metadata_give_decoding(tmp_path):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(24, 4))
    rng = np.random.default_rng(1)
    images = rng.random((60, 16, 16), dtype=np.float32)
    images[:30] *= 0.3  # object a: dim
    metadata = pd.DataFrame({"object": ["a"] * 30 + ["b"] * 30,
                             "view": list(range(30)) * 2, "contrast": rng.random(60)})
    tables = analyse(net, images, metadata, decoding=DecodingOptions(
        single_units=5, population_sizes=(16,), resamples=2))
    decoding = tables["decoding_population"]
    assert set(decoding["protocol"]) == {"separability", "generalisation"}
    assert decoding.query("layer == 'input' and protocol == 'separability'")[
        "percent_correct"].iloc[0] > 90
    assert np.isfinite(tables["information_units"]["I_S"]).all()


def test_a_module_object_is_a_model():
    """On main: TypeError: argument of type 'AlexNet' is not iterable."""
    import torchvision

    module = torchvision.models.resnet18()
    loaded = load_model(module)
    assert loaded.name == "ResNet" and loaded.weights.startswith("in-memory:")
    assert loaded.preprocessing.channels == 3
    assert load_model(module).sha256 == loaded.sha256  # the same weights, the same identity
    with torch.no_grad():
        module.fc.bias.add_(1.0)
    assert load_model(module).sha256 != loaded.sha256
    with pytest.raises(PrunedistillError, match="nn.Module"):
        load_model(42)


@pytest.mark.parametrize("images, metadata, message", [
    (np.zeros((4, 2, 8, 8)), None, r"\(N, 3, H, W\)"),
    (np.zeros((4, 8)), None, "got shape"),
    (np.zeros((4, 8, 8), dtype=bool), None, "float"),
    (np.zeros((4, 8, 8), dtype=np.int64), None, "float"),
    (np.full((4, 8, 8), 2.0), None, "within 0..1"),
    (np.zeros((4, 8, 8)), pd.DataFrame({"object": ["a"] * 3}), "3 rows for 4 images"),
    (np.zeros((4, 8, 8)), pd.DataFrame({"mood": list("abcd")}), "'mood' is not numeric"),
])
def test_bad_arrays_and_metadata_are_named(images, metadata, message):
    with pytest.raises(ValueError, match=message):
        from_arrays(images, metadata)
