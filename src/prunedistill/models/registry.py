"""Resolve a model name and a weights spec to a ready network with its preprocessing.

Model names: ``embedded`` (the project's CNN), any torchvision classification model
(``alexnet``, ``vgg16``, ``resnet50``, ...), or a user's ``package.module:factory``.

Weights specs:

* ``untrained:<seed>``: the architecture's own initialisation, drawn under ``seed``;
* ``trained``: the embedded model's committed file; for torchvision, the ``DEFAULT`` entry of
  its weights enum (recorded by name, e.g. ``ResNet50_Weights.IMAGENET1K_V2``);
* a torchvision enum name (``IMAGENET1K_V1``, ``IMAGENET1K_V2``, ``DEFAULT``): torchvision's
  own file in the torch hub cache, downloaded there with torch.hub's hash check when it is
  missing and the machine is online (never when ``PRUNEDISTILL_OFFLINE=1``);
* a path, or a file name looked up in the torch hub cache.

Weights load with ``torch.load(weights_only=True)`` and their sha256 is recorded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .embedded import INPUT_SIZE, EmbeddedCNN

EMBEDDED_WEIGHTS = Path(__file__).parent / "weights" / "embedded_cnn.pt"
EMBEDDED_RECORD = Path(__file__).parent / "weights" / "embedded_cnn.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How stimulus images ``(N, H, W)`` in 0..1 become a network input ``(N, C, H, W)``.

    ``input_size`` None accepts any size. Grayscale images are repeated over ``channels``;
    then ``(x - mean) / std`` per channel. ``field_deg`` is the visual angle the network's
    input is meant to span (stimuli should be rendered with it).
    """

    input_size: int | None
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    field_deg: float = 120.0

    def __call__(self, images) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images,
                            dtype=torch.float32)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] not in (1, self.channels):
            raise ValueError(
                f"images must be (N, H, W) grayscale or (N, {self.channels}, H, W); got "
                f"{tuple(x.shape)}. This model expects {self.channels} channel(s).")
        size = self.input_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            raise ValueError(
                f"this model expects {size} x {size} images; got {x.shape[-2]} x {x.shape[-1]}. "
                f"Render the stimuli at --size {size} (or resize a folder with --resize).")
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, -1, -1)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (x - mean) / std

    def describe(self) -> dict:
        return asdict(self)


@dataclass
class LoadedModel:
    """A network in eval mode with what is needed to reproduce and describe it."""

    name: str
    module: nn.Module
    weights: str  # "untrained:<seed>" or the weight file's path
    sha256: str | None
    preprocessing: Preprocessing
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {"model": self.name, "weights": self.weights, "weights_sha256": self.sha256,
                "preprocessing": self.preprocessing.describe(), **self.extra}


def torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _parse_seed(weights: str) -> int | None:
    if weights == "untrained":
        return 0
    if weights.startswith("untrained:"):
        text = weights.split(":", 1)[1]
        if not text.lstrip("-").isdigit():
            raise ValueError(f"bad weights spec {weights!r}: use untrained:<integer seed>.")
        return int(text)
    return None


ARCHITECTURE_KEYS = ("n_classes", "widths", "convs_per_block", "hidden", "dropout")


def embedded_record(weights: Path | None) -> Path | None:
    """The training record of embedded-CNN weights: ``NAME.json`` beside ``NAME.pt`` (as
    `prunedistill train` writes them), else the committed model's record."""
    beside = weights.with_suffix(".json") if weights is not None else None
    for record in (beside, EMBEDDED_RECORD):
        if record is not None and record.exists():
            return record
    return None


def _embedded_architecture(weights: Path | None) -> dict:
    """The constructor arguments recorded with the weights (classes, widths, ...)."""
    record = embedded_record(weights)
    if record is None:
        return {}
    architecture = json.loads(record.read_text()).get("architecture", {})
    return {k: architecture[k] for k in ARCHITECTURE_KEYS if k in architecture}


def _build(name: str, n_classes: int | None, weights_path: Path | None = None
           ) -> tuple[nn.Module, Preprocessing]:
    if name == "embedded":
        architecture = _embedded_architecture(weights_path)
        if n_classes is not None:
            architecture["n_classes"] = n_classes
        module = EmbeddedCNN(**architecture)
        return module, Preprocessing(INPUT_SIZE, 1, (0.0,), (1.0,), field_deg=120.0)
    if ":" in name:
        module_path, factory_name = name.split(":", 1)
        try:
            factory = getattr(importlib.import_module(module_path), factory_name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"cannot import {name!r} ({error}); give package.module:factory "
                             "with the package on PYTHONPATH.") from None
        module = factory()
        if not isinstance(module, nn.Module):
            raise ValueError(f"{name} returned {type(module).__name__}, not a torch nn.Module.")
        first_conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
        channels = first_conv.in_channels if first_conv is not None else 1
        return module, Preprocessing(None, channels, (0.0,) * channels, (1.0,) * channels)
    names = torchvision_names()
    if name not in names:
        raise ValueError(f"unknown model {name!r}. Valid: embedded, package.module:factory, or "
                         f"a torchvision model: {', '.join(names)}.")
    import torchvision

    module = torchvision.models.get_model(name, weights=None)
    size = 299 if name.startswith("inception") else 224
    return module, Preprocessing(size, 3, IMAGENET_MEAN, IMAGENET_STD, field_deg=120.0)


OFFLINE_VARIABLE = "PRUNEDISTILL_OFFLINE"  # set to 1: never download weights


def torchvision_weights(name: str, weights: str):
    """The torchvision weights enum entry that ``weights`` names for model ``name``
    (``trained`` and ``DEFAULT`` are torchvision's default entry), or None when ``weights``
    is not an enum name. An unknown enum-like name is an error listing the valid ones."""
    import torchvision

    if name not in torchvision_names():
        return None
    try:
        enum = torchvision.models.get_model_weights(name)
    except ValueError:  # an architecture without published weights
        return None
    valid = [w.name for w in enum]
    if weights in ("trained", "DEFAULT"):
        return enum.DEFAULT
    if weights in valid:
        return enum[weights]
    if weights.isupper() and not Path(weights).exists():
        raise ValueError(f"{name} has no weights named {weights!r}; torchvision's names for "
                         f"it: {', '.join(valid)} (and DEFAULT = {enum.DEFAULT.name}).")
    return None


def _download(url: str, target: Path) -> None:
    """Fetch ``url`` into ``target`` with torch.hub's hash check (the hash prefix in the
    file name), unless offline; a failure names the URL and where to put the file."""
    import os
    import re

    how = (f"Download {url} and save it as {target}, or pass a weights file's path.")
    if os.environ.get(OFFLINE_VARIABLE, "") not in ("", "0"):
        raise FileNotFoundError(f"{target.name} is not in the torch hub cache and "
                                f"{OFFLINE_VARIABLE} forbids downloading. {how}")
    match = re.search(torch.hub.HASH_REGEX, target.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix=match.group(1) if match
                                       else None, progress=False)
    except Exception as error:  # no network, a proxy, a hash mismatch
        target.unlink(missing_ok=True)
        raise FileNotFoundError(f"could not download {target.name} ({error}). {how}") \
            from None


def _weights_file(name: str, weights: str) -> Path:
    if weights == "trained" and name == "embedded":
        if not EMBEDDED_WEIGHTS.exists():
            raise FileNotFoundError(
                f"the embedded model's weights are missing: expected {EMBEDDED_WEIGHTS}. "
                "Reinstall the package or retrain with `prunedistill train`.")
        return EMBEDDED_WEIGHTS
    if weights == "trained" and ":" in name:
        raise ValueError(f"{name}: give the path of the weight file instead of 'trained'.")
    entry = torchvision_weights(name, weights)
    if entry is not None:
        expected = hub_checkpoint_dir() / entry.url.rsplit("/", 1)[-1]
        if not expected.exists():
            _download(entry.url, expected)
        return expected
    path = Path(weights).expanduser()
    if path.exists():
        return path
    in_hub = hub_checkpoint_dir() / weights
    if in_hub.exists():
        return in_hub
    raise FileNotFoundError(f"weights file {weights!r} not found: looked for {path.resolve()} "
                            f"and {in_hub}.")


def _state_dict(path: Path) -> dict:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a bad or unsafe file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise ValueError(
            f"cannot load {path} with the safe loader (weights_only=True): {reason}. "
            "prunedistill never unpickles code; save a plain state dict instead: "
            "torch.save(model.state_dict(), PATH).") from None
    wrapped = isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict)
    if wrapped:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(torch.is_tensor(v) for v in loaded.values()):
        raise ValueError(f"{path} is not a state dict (a mapping of names to tensors).")
    return loaded


def load_state_checked(module: nn.Module, state: dict, source: str) -> None:
    """Load ``state`` into ``module`` or raise naming the first mismatched keys."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                   if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}")
        if wrong_shape:
            parts.append(f"wrong shapes (file vs model) {wrong_shape[:5]}")
        raise ValueError(f"weights {source} do not fit the architecture: " + "; ".join(parts)
                         + ". Check the model name matches the file.")
    module.load_state_dict(state, strict=True)


def model_fingerprint(name: str) -> str:
    """What defines the architecture's code: the torch and torchvision versions, plus for a
    ``package.module:factory`` the SHA-256 of that module's source file (a change to it
    recomputes everything downstream; modules it imports are not followed)."""
    import torchvision

    versions = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    if ":" not in name or name == "embedded":
        return versions
    module_path = name.split(":", 1)[0]
    try:
        spec = importlib.util.find_spec(module_path)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise ValueError(f"cannot find the module of {name!r}; give package.module:factory "
                         "with the package on PYTHONPATH.")
    return f"{versions}, {Path(spec.origin).name} {sha256_of(Path(spec.origin))}"


def weights_identity(name: str, weights: str) -> str:
    """What the weights are, without building the model: ``untrained:<seed>`` or the
    sha256 of the weight file (raises the same named errors as :func:`load_model`)."""
    seed = _parse_seed(weights)
    if seed is not None:
        return f"untrained:{seed}"
    return sha256_of(_weights_file(name, weights))


def state_digest(module: nn.Module) -> str:
    """SHA-256 over a module's parameters and buffers (names, shapes, bytes): the identity
    of weights held in memory."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16
                      else tensor.float().numpy().tobytes())
    return digest.hexdigest()


def from_module(module: nn.Module, *, name: str | None = None,
                preprocessing: Preprocessing | None = None) -> LoadedModel:
    """A model already in memory, set to eval mode (layers are tapped on a copy, so its
    in-place ReLUs stay as they are). ``preprocessing`` defaults to the module's input channels, any
    size, no normalisation; its weights are identified by :func:`state_digest`."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch nn.Module; got {type(module).__name__}.")
    if preprocessing is None:
        first_conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
        channels = first_conv.in_channels if first_conv is not None else 1
        preprocessing = Preprocessing(None, channels, (0.0,) * channels, (1.0,) * channels)
    digest = state_digest(module)
    return LoadedModel(name or type(module).__name__, module.eval(), f"in-memory:{digest[:16]}",
                       digest, preprocessing)


def load_model(name: str | nn.Module, weights: str = "untrained:0", *,
               n_classes: int | None = None) -> LoadedModel:
    """Build ``name`` and set its weights from ``weights``; returns it in eval mode. An
    ``nn.Module`` object is taken as it is (:func:`from_module`)."""
    if isinstance(name, nn.Module):
        return from_module(name)
    if not isinstance(name, str):
        raise TypeError(f"a model is a name (embedded, a torchvision name, "
                        f"package.module:factory) or an nn.Module; got {type(name).__name__}.")
    seed = _parse_seed(weights)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module, preprocessing = _build(name, n_classes)
        return LoadedModel(name, module.eval(), f"untrained:{seed}", None, preprocessing)
    path = _weights_file(name, weights)
    module, preprocessing = _build(name, n_classes, path)
    load_state_checked(module, _state_dict(path), str(path))
    extra = {}
    entry = torchvision_weights(name, weights) if name != "embedded" else None
    if entry is not None:  # what `trained` or DEFAULT stood for, recorded
        extra["weights_name"] = f"{type(entry).__name__}.{entry.name}"
        extra["weights_url"] = entry.url
    record = embedded_record(path) if name == "embedded" else None
    if record is not None and (record != EMBEDDED_RECORD or path == EMBEDDED_WEIGHTS):
        extra["training_record"] = str(record)
    return LoadedModel(name, module.eval(), str(path), sha256_of(path), preprocessing, extra)
