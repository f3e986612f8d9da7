"""Networks: the embedded CNN, torchvision models and user modules, with their weights."""

from .embedded import EmbeddedCNN
from .registry import (
    EMBEDDED_RECORD,
    EMBEDDED_WEIGHTS,
    LoadedModel,
    Preprocessing,
    from_module,
    load_model,
    torchvision_names,
    weights_identity,
)

__all__ = ["EMBEDDED_RECORD", "EMBEDDED_WEIGHTS", "EmbeddedCNN", "LoadedModel",
           "Preprocessing", "from_module", "load_model", "torchvision_names",
           "weights_identity"]
