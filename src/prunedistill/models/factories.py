"""A user's model factory: ``package.module:factory`` importable from the current folder, or
``path/to/file.py:factory`` (a relative path is taken from the study config's folder), with
keyword arguments. ``factory`` may be dotted (``EfficientNet.from_name``)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .._validation import BadInput


def is_factory(name: str) -> bool:
    return ":" in name and not name.startswith("timm:")


def _split(name: str) -> tuple[str, str]:
    module_part, _, attribute = name.rpartition(":")
    if not module_part or not attribute:
        raise BadInput(f"bad model {name!r}: give package.module:factory or "
                                "path/to/file.py:factory.")
    return module_part, attribute


def source_file(name: str) -> Path:
    """The Python file that defines the factory of ``name``."""
    module_part, _ = _split(name)
    if module_part.endswith(".py"):
        path = Path(module_part)
        if not path.is_file():
            raise BadInput(f"model {name!r}: no file {path.resolve()}.")
        return path.resolve()
    _importable_from_here()
    try:
        spec = importlib.util.find_spec(module_part)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise BadInput(
            f"cannot find the module of {name!r}; give package.module:factory with the "
            "package importable (installed, or in the current folder), or "
            "path/to/file.py:factory.")
    return Path(spec.origin)


def _importable_from_here() -> None:
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.append(here)


def _module(module_part: str):
    if not module_part.endswith(".py"):
        _importable_from_here()
        return importlib.import_module(module_part)
    path = Path(module_part).resolve()
    unique = "prunedistill_factory_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique]
        raise
    return module


def build_factory(name: str, arguments: dict | None = None):
    """Call the factory of ``name`` with ``arguments``; returns what it returns, checked to
    be an ``nn.Module``."""
    from torch import nn

    module_part, attribute = _split(name)
    try:
        target = _module(module_part)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, FileNotFoundError) as error:
        raise BadInput(
            f"cannot import {name!r} ({error}); give package.module:factory with the package "
            "importable (installed, or in the current folder), or path/to/file.py:factory."
        ) from None
    if not callable(target):
        raise BadInput(f"{name}: {attribute} is not callable.")
    try:
        module = target(**(arguments or {}))
    except TypeError as error:
        raise BadInput(f"{name}({', '.join(arguments or {})}) failed: {error}. Check "
                                "the network's `arguments`.") from None
    if not isinstance(module, nn.Module):
        raise BadInput(f"{name} returned {type(module).__name__}, not a torch "
                                "nn.Module; the factory must return the network.")
    return module
