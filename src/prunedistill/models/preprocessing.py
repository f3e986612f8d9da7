"""What a network expects of its images: size, the resize before the centre crop, colour,
normalisation, and where each choice came from (the weights' own transforms, timm's data
config, the user's declaration, or a documented default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from .._validation import BadInput

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The classic ImageNet evaluation transform (resize the shorter side to 256, crop 224) for
# torchvision architectures whose weights name no transform of their own.
CLASSIC_RESIZE_RATIO = 256 / 224
INTERPOLATIONS = ("bilinear", "bicubic")
DECLARED_KEYS = ("size", "resize_size", "channels", "mean", "std", "interpolation",
                 "field_deg")


@dataclass(frozen=True)
class Preprocessing:
    """How stimulus images in 0..1 become a network input ``(N, C, H, W)``.

    ``input_size``: the square input in pixels (None accepts any size). ``resize_size``:
    natural images have their shorter side resized to it before the centre crop to
    ``input_size`` (None: to ``input_size``, no margin); rendered sets are rendered at
    ``input_size``. ``channels``: 3 for colour networks (gray images are repeated over the
    channels), 1 for gray ones (colour images are refused). Then ``(x - mean) / std`` per
    channel. ``field_deg``: the visual angle the input spans. ``source``: where these came
    from, in words.
    """

    input_size: int | None
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    field_deg: float = 120.0
    resize_size: int | None = None
    interpolation: str = "bilinear"
    source: str = "default"

    def __call__(self, images) -> torch.Tensor:
        x = images if torch.is_tensor(images) else torch.from_numpy(
            np.ascontiguousarray(images, dtype=np.float32))
        x = x.to(torch.float32)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise BadInput(
                f"images must be (N, H, W) gray or (N, C, H, W) with C 1 or 3; got "
                f"{tuple(x.shape)}.")
        if x.shape[1] == 3 and self.channels == 1:
            raise BadInput(
                "this network takes gray images and was given colour ones. Convert them to "
                "luma first: stimuli.grayscale: true in a study, "
                "prunedistill.stimuli.to_grayscale(stimuli) or grayscale=True in Python.")
        size = self.input_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            raise BadInput(
                f"this model expects {size} x {size} images; got {x.shape[-2]} x "
                f"{x.shape[-1]}. Render the stimuli at --size {size}, or load images with "
                f"size={size} (resized and centre-cropped); a study does this per network.")
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, -1, -1)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (x - mean) / std

    def colour_note(self, colour_images: bool) -> str:
        """What is done to a stimulus set's colour for this network, in words."""
        if self.channels == 1:
            return "gray images as they are"
        return "colour images as they are" if colour_images else \
            f"gray images repeated over {self.channels} channels"

    def describe(self) -> dict:
        return asdict(self)


def torchvision_preprocessing(entry) -> Preprocessing:
    """The evaluation transform a torchvision weights enum entry carries (crop, resize,
    mean, std, interpolation)."""
    transform = entry.transforms()
    interpolation = transform.interpolation.value
    return Preprocessing(
        input_size=int(transform.crop_size[0]), channels=3, mean=tuple(transform.mean),
        std=tuple(transform.std), resize_size=int(transform.resize_size[0]),
        interpolation=interpolation if interpolation in INTERPOLATIONS else "bilinear",
        source=f"torchvision {type(entry).__name__}.{entry.name} transforms")


def classic_imagenet(size: int = 224, source: str = "the classic ImageNet transform"
                     ) -> Preprocessing:
    """Resize to ``size * 256 / 224``, crop ``size``, ImageNet mean and std."""
    return Preprocessing(size, 3, IMAGENET_MEAN, IMAGENET_STD,
                         resize_size=int(round(size * CLASSIC_RESIZE_RATIO)), source=source)


def declared(base: Preprocessing, values: dict | None) -> Preprocessing:
    """``base`` with the keys a user declared (``size``, ``resize_size``, ``channels``,
    ``mean``, ``std``, ``interpolation``, ``field_deg``) replaced; checked for consistency."""
    if not values:
        return base
    unknown = sorted(set(values) - set(DECLARED_KEYS))
    if unknown:
        raise BadInput(f"unknown preprocessing key(s) {unknown}; allowed: "
                                f"{', '.join(DECLARED_KEYS)}.")
    fields = {("input_size" if k == "size" else k): v for k, v in values.items()}
    for key in ("mean", "std"):
        if key in fields:
            fields[key] = tuple(float(v) for v in np.atleast_1d(fields[key]))
    channels = int(fields.get("channels", base.channels))
    if channels not in (1, 3):
        raise BadInput(f"preprocessing channels must be 1 (gray) or 3 (RGB); got "
                                f"{channels}.")
    for key in ("mean", "std"):
        value = fields.get(key, getattr(base, key))
        if len(value) == 1 and channels == 3:
            fields[key] = value * 3
        elif len(value) != channels:
            raise BadInput(f"preprocessing {key} has {len(value)} values for "
                                    f"{channels} channel(s).")
    if any(s <= 0 for s in fields.get("std", base.std)):
        raise BadInput("preprocessing std values must be positive.")
    if fields.get("interpolation", base.interpolation) not in INTERPOLATIONS:
        raise BadInput(f"preprocessing interpolation must be one of "
                                f"{INTERPOLATIONS}.")
    size, resize = fields.get("input_size", base.input_size), fields.get("resize_size",
                                                                          base.resize_size)
    if size is not None and resize is not None and resize < size:
        raise BadInput(f"preprocessing resize_size ({resize}) is smaller than the "
                                f"size ({size}); the centre crop would not fit.")
    return Preprocessing(**{**asdict(base), **fields, "channels": channels,
                            "source": f"declared ({', '.join(sorted(values))}) over "
                                      f"{base.source}"})
