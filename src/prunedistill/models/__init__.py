"""Networks: the embedded CNN, torchvision, EfficientNet-Lite0 and timm models and user
modules, with their weights and preprocessing."""

from .embedded import EmbeddedCNN
from .registry import (
    EMBEDDED_RECORD,
    EMBEDDED_WEIGHTS,
    LoadedModel,
    Preprocessing,
    from_module,
    load_model,
    preprocessing_of,
    torchvision_names,
    weights_identity,
)

__all__ = ["EMBEDDED_RECORD", "EMBEDDED_WEIGHTS", "EmbeddedCNN", "LoadedModel",
           "Preprocessing", "from_module", "load_model", "preprocessing_of", "torchvision_names",
           "weights_identity"]
