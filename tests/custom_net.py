"""A user's own network, loaded by import path in the tests ("custom_net:build")."""

from torch import nn


def build() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
