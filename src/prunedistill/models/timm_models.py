"""timm models (an optional extra: ``pip install prunedistill[timm]``): ``timm:NAME``
architectures, their preprocessing from timm's data config, their weights from a local file
or from timm's (Hugging Face hub) cache, and their stage outputs from ``feature_info``."""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path

from .._validation import BadInput
from .preprocessing import INTERPOLATIONS, Preprocessing

PREFIX = "timm:"
HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def _timm():
    try:
        import timm
    except ImportError:
        raise BadInput("timm models need the timm package: pip install "
                                "'prunedistill[timm]' (or pip install timm).") from None
    return timm


def is_timm(name: str) -> bool:
    return name.startswith(PREFIX)


def timm_name(name: str) -> str:
    return name[len(PREFIX):]


def check_name(name: str) -> None:
    """Refuse a name timm does not know, suggesting close ones."""
    timm = _timm()
    model = timm_name(name)
    architecture = model.split(".", 1)[0]
    if timm.is_model(architecture) and ("." not in model
                                        or model in timm.list_models(pretrained=True)):
        return
    known = timm.list_models(pretrained=True) if "." in model else timm.list_models()
    close = difflib.get_close_matches(model, known, n=5, cutoff=0.6)
    hint = f" Close names: {', '.join(close)}." if close else ""
    raise BadInput(f"timm has no model {model!r}.{hint} `timm.list_models()` lists "
                            "them all.")


def build(name: str, arguments: dict | None = None):
    """An untrained timm model (its own initialisation under the current torch seed)."""
    check_name(name)
    return _timm().create_model(timm_name(name), pretrained=False, **(arguments or {}))


def preprocessing(module) -> Preprocessing:
    """Size, resize (``floor(size / crop_pct)``), mean, std and interpolation from timm's
    data config of ``module``."""
    config = _timm().data.resolve_model_data_config(module)
    channels, height, width = config["input_size"]
    if height != width:
        raise BadInput(f"timm's data config asks for {height} x {width} inputs; "
                                "prunedistill uses square images. Declare a square size in "
                                "the network's `preprocessing`.")
    interpolation = config.get("interpolation", "bilinear")
    return Preprocessing(
        input_size=int(height), channels=int(channels), mean=tuple(config["mean"]),
        std=tuple(config["std"]), resize_size=int(math.floor(height / config["crop_pct"])),
        interpolation=interpolation if interpolation in INTERPOLATIONS else "bilinear",
        source="timm data config")


def cached_weights(name: str) -> Path | None:
    """The weights file of a pretrained timm model in the Hugging Face hub cache, if there."""
    timm = _timm()
    config = timm.models.get_pretrained_cfg(timm_name(name))
    repo = getattr(config, "hf_hub_id", None) if config is not None else None
    if not repo:
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in HUB_FILES:
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def download_weights(name: str, offline: bool) -> Path:
    """The cached weights file, fetched into the hub cache by huggingface_hub when missing and
    ``offline`` is false; otherwise a named error that says where to put it."""
    found = cached_weights(name)
    if found is not None:
        return found
    timm = _timm()
    config = timm.models.get_pretrained_cfg(timm_name(name))
    repo = getattr(config, "hf_hub_id", None) if config is not None else None
    if not repo:
        raise BadInput(f"timm lists no downloadable weights for {timm_name(name)!r}; "
                                "give a weights file's path as `trained`.")
    from huggingface_hub.constants import HF_HUB_CACHE

    where = (f"https://huggingface.co/{repo} ({HUB_FILES[0]}); put it in the hub cache "
             f"({HF_HUB_CACHE}) with `huggingface-cli download {repo}`, or give the file's "
             "path as `trained`")
    if offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise BadInput(f"the weights of {timm_name(name)} are not in the hub cache and "
                                f"downloading is off. Get them from {where}.")
    from huggingface_hub import hf_hub_download

    for filename in HUB_FILES:
        try:
            return Path(hf_hub_download(repo, filename))
        except Exception:  # noqa: BLE001 -- the next file name, then the named error
            continue
    raise BadInput(f"could not download the weights of {timm_name(name)}. Get them "
                            f"from {where}.")


def feature_modules(module) -> list[str]:
    """The modules whose outputs timm lists as features (stage outputs), if it lists any."""
    info = getattr(module, "feature_info", None)
    if not info:
        return []
    names = []
    for entry in info:
        name = entry.get("module") if isinstance(entry, dict) else None
        if name:
            names.append(name.replace("_", ".") if not _has(module, name) and
                         _has(module, name.replace("_", ".")) else name)
    return [n for n in names if _has(module, n)]


def _has(module, name: str) -> bool:
    try:
        module.get_submodule(name)
    except AttributeError:
        return False
    return True
