"""The project's own small VGG-style CNN for grayscale object images.

Four convolutional blocks (3x3 convolutions, batch norm, ReLU, 2x2 max pooling; 7 conv
layers), a global average pool, and two fully connected layers. Layer names follow VGG
(``features.conv2_1``, ``features.pool3``, ``classifier.fc1``, ...), so layer lists read
the same as for torchvision networks.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

INPUT_SIZE = 64
WIDTHS = (16, 32, 64, 128)
CONVS_PER_BLOCK = (2, 2, 2, 1)
HIDDEN = 256


class EmbeddedCNN(nn.Module):
    """Input ``(batch, 1, 64, 64)`` in 0..1 (objects on black); output ``(batch, classes)``
    logits."""

    def __init__(self, n_classes: int = 50, widths=WIDTHS, convs_per_block=CONVS_PER_BLOCK,
                 hidden: int = HIDDEN, dropout: float = 0.2):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = 1
        for block, (width, n_convs) in enumerate(zip(widths, convs_per_block), start=1):
            for index in range(1, n_convs + 1):
                tag = f"{block}_{index}"
                layers[f"conv{tag}"] = nn.Conv2d(channels, width, kernel_size=3, padding=1)
                layers[f"bn{tag}"] = nn.BatchNorm2d(width)
                layers[f"relu{tag}"] = nn.ReLU()
                channels = width
            layers[f"pool{block}"] = nn.MaxPool2d(2)
        layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
        self.features = nn.Sequential(layers)
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(channels, hidden)),
            ("relu_fc1", nn.ReLU()),
            ("dropout", nn.Dropout(dropout)),
            ("fc2", nn.Linear(hidden, n_classes)),
        ]))
        self.n_classes = n_classes
        self.architecture = {"n_classes": n_classes, "widths": list(widths),
                             "convs_per_block": list(convs_per_block), "hidden": hidden,
                             "dropout": dropout, "input_size": INPUT_SIZE}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
