"""Layer discovery and exact activation extraction, streamed to a zarr store.

One forward pass per batch serves every requested layer. The network is a copy with every
``inplace`` flag turned off, and each hook clones its output, so a conv layer keeps its
negative values even when the next ReLU (or a residual ``+=``) works in place.

Store layout (one group per layer, named by the layer with "." kept):

* ``act``     ``(stimulus, unit)`` float32, every unit, written batch by batch (optional);
* ``subset``  ``(stimulus, k)`` float32, a seeded random subset of units for single-unit
  analyses, with ``subset_unit`` (their flat indices);
* ``gram``    ``(stimulus, stimulus)`` float64, the exact Gram matrix of the rows centred
  per unit, computed once every batch is in from one read of the layer by blocks of units
  (from ``act``, or from a scratch copy of it deleted at the end when ``act`` is not kept),
  and ``row_digest`` ``(stimulus, 16)`` uint8, a hash of each row for exact-duplicate
  detection. Together they give the distance matrix without re-reading the layer.

Units are numbered in C order of the layer's output shape, so unit ``u`` of a ``(C, H, W)``
output is channel ``u // (H * W)``, row ``(u // W) % H``, column ``u % W``.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._io import atomic_path, refuse_foreign, remove_path
from .distances import DistanceMatrix, StreamingGram, _distances_from_gram, resolve_device
from .models.registry import LoadedModel
from .models.timm_models import feature_modules

POOLING = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
           nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
           nn.AdaptiveAvgPool3d)
CONVOLUTION = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NONLINEARITY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish,
                nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Mish, nn.PReLU, nn.SELU, nn.CELU)
PRESETS = ("checkpoints", "all")


@dataclass(frozen=True)
class LayerInfo:
    """A layer's name (module path, or "input"), module type, per-stimulus output shape and
    unit count; ``calls`` > 1 marks a module run several times per forward (the last output
    is the one extracted)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    n_units: int
    calls: int = 1

    def unit_coords(self, units: np.ndarray) -> dict[str, np.ndarray]:
        """``channel``, ``y``, ``x`` of flat unit indices (-1 where the shape has no such axis)."""
        units = np.asarray(units, dtype=np.int64)
        if len(self.shape) == 3:
            c, h, w = self.shape
            return {"channel": units // (h * w), "y": (units // w) % h, "x": units % w}
        if len(self.shape) == 1:
            minus = np.full_like(units, -1)
            return {"channel": units, "y": minus, "x": minus.copy()}
        index = np.unravel_index(units, self.shape)
        return {"channel": index[0], "y": index[-2] if len(self.shape) > 1 else units * 0 - 1,
                "x": index[-1]}


def without_inplace(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` in eval mode with every ``inplace`` attribute set False."""
    clone = copy.deepcopy(module).eval()
    for child in clone.modules():
        if getattr(child, "inplace", False):
            child.inplace = False
    return clone


# Class names of the blocks and stages whose outputs are checkpoints, in every torchvision
# family and in most timm-style code: ResNet BasicBlock/Bottleneck, MobileNet and ShuffleNet
# InvertedResidual, MNASNet _InvertedResidual, EfficientNet MBConv/FusedMBConv, RegNet
# ResBottleneckBlock, ConvNeXt CNBlock, ViT EncoderBlock, Swin SwinTransformerBlock(V2),
# DenseNet _DenseBlock/_Transition, Inception InceptionA-E and GoogLeNet Inception,
# SqueezeNet Fire. An unknown architecture follows the same rule by its class names.
BLOCK_CLASS = re.compile(r"_?(\w*Block\w*|\w*Residual|Bottleneck|\w*MBConv|Fire|Transition"
                         r"|Inception[A-E]?)")


def _is_block(module: nn.Module) -> bool:
    """A block or stage whose output (after its skip connection, where it has one) is a
    checkpoint of the Ansuini protocol; MLP and attention sub-blocks are not."""
    name = type(module).__name__
    return bool(BLOCK_CLASS.fullmatch(name)) and not name.startswith(("MLP", "Attention"))


def _stage_outputs(model: LoadedModel, available: list[LayerInfo]) -> list[str]:
    """The block or stage modules whose outputs are checkpoints: those timm lists in a
    model's ``feature_info``, else the modules whose class matches :data:`BLOCK_CLASS`."""
    listed = set(feature_modules(model.module))
    if listed:
        return [i.name for i in available if i.name in listed]
    return [i.name for i in available if i.name != "input"
            and _is_block(model.module.get_submodule(i.name))]


def checkpoint_rule(model: LoadedModel, available: list[LayerInfo]) -> str:
    """How ``checkpoints`` was chosen for this model, in words (``prunedistill layers``)."""
    if feature_modules(model.module):
        return ("the input, the stage outputs timm lists in the model's feature_info, and the "
                "pooling and linear layers outside them")
    blocks = sorted({type(model.module.get_submodule(i.name)).__name__ for i in available
                     if i.name != "input" and _is_block(model.module.get_submodule(i.name))})
    if blocks:
        return (f"the input, the outputs of the outermost {', '.join(blocks)} blocks, and the "
                "pooling and linear layers outside them")
    return "the input and every pooling and linear layer (no residual or stage blocks found)"


def list_layers(model: LoadedModel, input_size: int | None = None) -> list[LayerInfo]:
    """Every module's output shape (leaves and containers: blocks, stages), in the order the
    outputs are produced (a container after its children), after the pseudo-layer ``input``
    (the preprocessed image). Modules whose output is not one tensor are left out."""
    size = input_size or model.preprocessing.input_size or 224
    x = model.preprocessing(np.zeros((1, size, size), dtype=np.float32))
    module = without_inplace(model.module)
    seen: dict[str, list] = {}
    hooks = []
    for name, child in module.named_modules():
        if name:
            def hook(_, __, output, name=name, child=child):
                if torch.is_tensor(output):
                    entry = seen.setdefault(name, [type(child).__name__, None, 0])
                    entry[1], entry[2] = tuple(output.shape[1:]), entry[2] + 1
            hooks.append(child.register_forward_hook(hook))
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in hooks:
            handle.remove()
    layers = [LayerInfo("input", "Input", tuple(x.shape[1:]), int(np.prod(x.shape[1:])))]
    for name, (kind, shape, calls) in seen.items():
        layers.append(LayerInfo(name, kind, shape, int(np.prod(shape)), calls))
    return layers


def _kind_of(model: LoadedModel, name: str) -> type:
    return type(model.module.get_submodule(name))


def _checkpoints(model: LoadedModel, available: list[LayerInfo]) -> list[LayerInfo]:
    """The input, the outermost blocks (see :data:`BLOCK_CLASS`) and the pooling and linear
    layers that are not inside a block, in the order their outputs are produced."""
    blocks = _stage_outputs(model, available)
    outermost = [b for b in blocks if not any(b.startswith(o + ".") for o in blocks)]

    def inside(name):
        return any(name.startswith(block + ".") for block in outermost)

    wanted = POOLING + (nn.Linear,)
    return [info for info in available if info.name == "input" or (
        not inside(info.name) and (info.name in outermost
                                   or issubclass(_kind_of(model, info.name), wanted)))]


def resolve_layers(model: LoadedModel, layers: str | Sequence[str],
                   available: list[LayerInfo] | None = None) -> list[LayerInfo]:
    """Layer infos for a preset (``checkpoints``: input, block and stage outputs, pooling and
    linear layers, the Ansuini protocol, see :func:`checkpoint_rule`; ``all``: input, every
    conv, nonlinearity, pooling and linear output) or a list of names (an unknown name is an
    error suggesting the closest ones)."""
    available = available or list_layers(model)
    by_name = {info.name: info for info in available}
    if isinstance(layers, str) and layers == "all":
        wanted = CONVOLUTION + NONLINEARITY + POOLING + (nn.Linear,)
        return [info for info in available if info.name == "input"
                or issubclass(_kind_of(model, info.name), wanted)]
    if isinstance(layers, str) and layers == "checkpoints":
        return _checkpoints(model, available)
    names = [layers] if isinstance(layers, str) else list(layers)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        close = {n: difflib.get_close_matches(n, list(by_name), n=3, cutoff=0.6)
                 for n in unknown}
        hints = "; ".join(f"{n!r}: did you mean {', '.join(c)}?" for n, c in close.items() if c)
        raise ValueError(
            f"unknown layer(s) {unknown} for {model.name}. {hints + ' ' if hints else ''}"
            f"Valid names (`prunedistill layers {model.name}`): {', '.join(by_name)}; or a "
            f"preset: {', '.join(PRESETS)}.")
    return [by_name[n] for n in names]


# Largest read the streamed Gram matrix makes: one column of chunks of an act array
# (every stimulus, float32).
_ACT_READ_BYTES = 256 * 2**20
# Where the rows of layers whose full activations are not kept wait for the Gram matrix
# (inside the store being written; deleted before it is published). A layer's module path
# never starts with a dot.
_GRAM_ROWS = ".gram_rows"


def _act_chunk_width(n_stimuli: int, batch_size: int, n_units: int) -> int:
    """Units per chunk of an act array: chunks of about 4 MiB for a batch's write, and a
    column of chunks (every stimulus) of at most about ``_ACT_READ_BYTES``, which the Gram
    matrix reads at once (never fewer than 1,024 units)."""
    width = max(1024, (4 * 2**20) // (4 * batch_size))
    width = min(width, max(1024, _ACT_READ_BYTES // (4 * n_stimuli)))
    return min(width, n_units)


def _fast_compressor():
    """Blosc LZ4 with byte shuffle: writes twice as fast as zarr's default Zstd, and ReLU
    zeros still compress."""
    from numcodecs import Blosc

    return Blosc(cname="lz4", clevel=1, shuffle=Blosc.SHUFFLE)


class _StopForward(Exception):
    """Raised by the deepest requested hook: later layers need not run."""


class LayerTap:
    """Runs the network on batches and returns the requested layers' outputs.

    ``tap(images) -> {layer: (batch, units) float32 CPU tensor}``; images are stimulus images
    ``(batch, H, W)`` or ``(batch, 3, H, W)`` in 0..1 (the model's preprocessing is applied).
    """

    def __init__(self, model: LoadedModel, layers: Sequence[LayerInfo], device: str = "cpu"):
        self.model = model
        self.layers = list(layers)
        self.device = device
        # In-place activations stay in place (out-of-place ReLUs cost ~7 % of a VGG16
        # pass): every hook copies its output the moment its module returns, before any
        # later in-place operation can touch that tensor.
        self.module = copy.deepcopy(model.module).eval().to(device)
        self._outputs: dict[str, torch.Tensor] = {}
        self._calls: dict[str, int] = {}
        self._pending: set[str] = set()
        self._hooks = []
        for info in self.layers:
            if info.name == "input":
                continue
            child = self.module.get_submodule(info.name)
            self._hooks.append(child.register_forward_hook(self._hook(info.name, info.calls)))

    def _hook(self, name: str, calls: int):
        def hook(_, __, output):
            self._calls[name] = self._calls.get(name, 0) + 1
            if self._calls[name] < calls:
                return  # a module run several times: keep its last output
            self._outputs[name] = output.detach().flatten(1).to("cpu", torch.float32, copy=True)
            self._pending.discard(name)
            if not self._pending:
                raise _StopForward
        return hook

    @torch.no_grad()
    def __call__(self, images) -> dict[str, torch.Tensor]:
        x = self.model.preprocessing(images)
        self._outputs, self._calls = {}, {}
        self._pending = {info.name for info in self.layers if info.name != "input"}
        if "input" in {info.name for info in self.layers}:
            self._outputs["input"] = x.flatten(1).clone()
        if self._pending:
            with contextlib.suppress(_StopForward):  # every requested layer was seen
                self.module(x.to(self.device))
        return {info.name: self._outputs[info.name] for info in self.layers}

    def close(self) -> None:
        for handle in self._hooks:
            handle.remove()

    def __enter__(self) -> LayerTap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def subset_units(layer: str, n_units: int, k: int, seed: int) -> np.ndarray:
    """Sorted, seeded random choice of ``min(k, n_units)`` unit indices of ``layer``."""
    if k >= n_units:
        return np.arange(n_units)
    rng = np.random.default_rng([seed, zlib.crc32(layer.encode())])
    return np.sort(rng.choice(n_units, size=k, replace=False))


def _images_of(stimuli) -> np.ndarray:
    images = stimuli["images"].values if hasattr(stimuli, "data_vars") else np.asarray(stimuli)
    if images.ndim not in (3, 4):
        raise ValueError(f"stimulus images must be (stimulus, y, x) or (stimulus, channel, y, "
                         f"x); got {images.shape}.")
    if not np.isfinite(images).all():
        raise ValueError("stimulus images contain NaN or infinite values.")
    return images


def _stimulus_table(stimuli) -> dict:
    if not hasattr(stimuli, "coords"):
        return {}
    table = {}
    for name, coord in stimuli.coords.items():
        if coord.dims == ("stimulus",):
            values = coord.values
            text = values.dtype.kind in "OUS"
            table[name] = values.astype(str).tolist() if text else values.tolist()
    return table


def extract_to_store(model: LoadedModel, stimuli, layers: str | Sequence[str], path, *,
                     batch_size: int = 32, device: str | None = None, subset_size: int = 2000,
                     seed: int = 0, keep_full: bool = True, gram: bool = True,
                     progress: bool = False) -> Path:
    """Extract ``layers`` for every stimulus into a zarr store at ``path``.

    Written beside ``path`` and renamed when complete (:mod:`prunedistill._io`): an
    interrupted or failed run leaves ``path`` as it was. An existing ``path`` that is not a
    zarr store is refused, never deleted. Returns ``path``.
    """
    import zarr

    images = _images_of(stimuli)
    n_stimuli = len(images)
    if gram and n_stimuli < 3:
        raise ValueError(f"distances need at least 3 stimuli; got {n_stimuli}.")
    device = resolve_device(device)
    size = images.shape[-1]
    available = list_layers(model, input_size=size if model.preprocessing.input_size is None
                            else None)
    infos = resolve_layers(model, layers, available)
    model.preprocessing(images[:1])  # wrong size or channels fail before anything is written
    path = Path(path)
    refuse_foreign(path, "n_stimuli", "an activation store")
    tap = LayerTap(model, infos, device)
    with tap, atomic_path(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        scratch = (zarr.open_group(str(tmp / _GRAM_ROWS), mode="w", zarr_format=2)
                   if gram and not keep_full else None)
        sinks = {}
        for info in infos:
            group = root.create_group(info.name)
            chunk_width = _act_chunk_width(n_stimuli, batch_size, info.n_units)
            # Without keep_full the rows still go to a compressed act array, in the scratch
            # group, for the Gram matrix to read back once; it is deleted at the end.
            act_group = group if keep_full else scratch
            act = act_group.create_array(
                "act" if keep_full else info.name, shape=(n_stimuli, info.n_units),
                dtype="float32", chunks=(batch_size, chunk_width),
                compressors=_fast_compressor()) if act_group is not None else None
            chosen = subset_units(info.name, info.n_units, subset_size, seed)
            group.create_array("subset_unit", data=chosen)
            # One chunk per batch: a batch writes its own chunk instead of rewriting one
            # chunk of every stimulus (read, decompress, compress) once per batch.
            subset = group.create_array("subset", shape=(n_stimuli, len(chosen)),
                                        dtype="float32", chunks=(batch_size, len(chosen)))
            group.attrs.update({"layer": info.name, "kind": info.kind, "shape": list(info.shape),
                                "n_units": info.n_units, "calls": info.calls})
            accumulator = (StreamingGram(n_stimuli, act, read_width=chunk_width)
                           if gram else None)
            sinks[info.name] = (act, subset, chosen, accumulator)
        batches = range(0, n_stimuli, batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"extracting {model.name}", unit="batch")
        for start in batches:
            _store_batch(sinks, tap(images[start:start + batch_size]), start)
        for info in infos:
            _, _, _, accumulator = sinks[info.name]
            if accumulator is not None:  # reads the layer back from its act array
                group = root[info.name]
                group.create_array("gram", data=accumulator.gram())
                digests = np.frombuffer(b"".join(accumulator.digests()), dtype=np.uint8)
                group.create_array("row_digest", data=digests.reshape(n_stimuli, 16))
        remove_path(tmp / _GRAM_ROWS)
        root.attrs.update({
            "model": model.describe(),
            "layers": [info.name for info in infos],
            "n_stimuli": n_stimuli,
            "stimuli": _stimulus_table(stimuli),
            "stimulus_attrs": json.loads(json.dumps(getattr(stimuli, "attrs", {}), default=str)),
            "subset_seed": seed,
            "device": device,
        })
        zarr.consolidate_metadata(str(tmp))
    return path



def _store_batch(sinks: dict, outputs: dict, start: int) -> None:
    """Check the rows ``{layer: (batch, units) tensor}`` of stimuli ``start...`` and write
    them to each layer's sinks: the act array (kept or scratch), the subset array and the
    Gram matrix's row hashes."""
    stop = start + len(next(iter(outputs.values())))
    for name, rows in outputs.items():
        rows = rows.numpy()
        if not np.isfinite(rows).all():
            raise ValueError(
                f"layer {name} produced NaN or infinite activations for stimuli "
                f"{start}..{stop - 1}; check the weights and the input images.")
        act, subset, chosen, accumulator = sinks[name]
        if accumulator is not None:
            accumulator.update(rows)
        if act is not None:
            act[start:stop] = rows
        subset[start:stop] = rows[:, chosen]


class ActivationStore:
    """Read access to a store written by :func:`extract_to_store`."""

    def __init__(self, path):
        import zarr

        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no activation store at {self.path}.")
        self._root = zarr.open_group(str(self.path), mode="r")
        self.attrs = dict(self._root.attrs)
        self.layers: list[str] = list(self.attrs["layers"])

    def _group(self, layer: str):
        if layer not in self.layers:
            raise ValueError(f"layer {layer!r} is not in {self.path}; it has {self.layers}.")
        return self._root[layer]

    def info(self, layer: str) -> LayerInfo:
        a = self._group(layer).attrs
        return LayerInfo(a["layer"], a["kind"], tuple(a["shape"]), a["n_units"], a["calls"])

    def full(self, layer: str):
        """The zarr array ``(stimulus, unit)`` (lazy; slice it)."""
        group = self._group(layer)
        if "act" not in group:
            raise ValueError(f"the full activations of {layer} were not kept "
                             "(extracted with keep_full=False); use subset() or distances().")
        return group["act"]

    def subset_units(self, layer: str) -> np.ndarray:
        """Indices ``(k,)`` of the layer's stored unit subset (flat unit index)."""
        return self._group(layer)["subset_unit"][:]

    def subset(self, layer: str):
        """The unit subset as an xarray DataArray ``act[stimulus, unit]`` with unit coords
        ``unit``, ``channel``, ``y``, ``x`` and the stimulus coords."""
        import xarray as xr

        group = self._group(layer)
        units = group["subset_unit"][:]
        coords = {"unit": ("unit", units)}
        coords.update({k: ("unit", v) for k, v in self.info(layer).unit_coords(units).items()})
        coords.update({k: ("stimulus", np.asarray(v)) for k, v in self.attrs["stimuli"].items()})
        return xr.DataArray(group["subset"][:], dims=("stimulus", "unit"), coords=coords,
                            name="act", attrs={"layer": layer, **self.attrs["model"]})

    def distances(self, layer: str) -> DistanceMatrix:
        """Exact Euclidean distances between stimuli in ``layer``, from the stored Gram."""
        group = self._group(layer)
        if "gram" not in group:
            raise ValueError(f"no Gram matrix stored for {layer} (extracted with gram=False).")
        digests = [bytes(row) for row in group["row_digest"][:]]
        return _distances_from_gram(group["gram"][:], digests)
