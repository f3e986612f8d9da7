"""Pixel arrays of stimuli: colour or gray, luma, and each network's resize and centre crop.

A stimulus set holds gray images ``images (stimulus, y, x)`` or colour images
``images (stimulus, channel, y, x)`` with ``channel`` = R, G, B; values in 0..1 as stored in
the image file (gamma-encoded sRGB, not linear light). Image properties (luminance, contrast,
orientation energy) are computed on the luma of colour images (docs/science.md, section 4).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._validation import BadInput

# ITU-R BT.601 luma of gamma-encoded R'G'B', the weights PIL's convert("L") uses: a colour
# image's luminance equals what the gray path of the same file measures.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
CHANNELS = ("R", "G", "B")


def is_colour(stimuli) -> bool:
    """Whether a stimulus Dataset (or image array) holds colour images."""
    if hasattr(stimuli, "data_vars"):
        return "channel" in stimuli["images"].dims
    return np.ndim(stimuli) == 4 and np.shape(stimuli)[1] == 3


def luma(images) -> np.ndarray:
    """Gray images ``(N, H, W)``: colour ``(N, 3, H, W)`` weighted by :data:`LUMA_WEIGHTS`,
    gray ``(N, H, W)`` or ``(N, 1, H, W)`` as they are."""
    array = np.asarray(getattr(images, "values", images))
    if array.ndim == 4 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim == 4 and array.shape[1] == 3:
        weights = np.asarray(LUMA_WEIGHTS, dtype=np.float32 if array.dtype == np.float32
                             else np.float64)
        return np.tensordot(weights, np.moveaxis(array, 1, 0), axes=1).astype(array.dtype,
                                                                              copy=False)
    return array


def gray_images(stimuli) -> np.ndarray:
    """The luma ``(N, H, W)`` of a stimulus Dataset's images (or of an image array)."""
    return luma(stimuli["images"].values if hasattr(stimuli, "data_vars") else stimuli)


def to_grayscale(stimuli: xr.Dataset) -> xr.Dataset:
    """The same stimulus set with colour images replaced by their luma (gray sets unchanged)."""
    if not is_colour(stimuli):
        return stimuli
    gray = gray_images(stimuli).astype(np.float32)
    out = stimuli.drop_vars(["images", "channel"], errors="ignore")
    out["images"] = (("stimulus", "y", "x"), gray)
    out.attrs = {**stimuli.attrs, "colour": "luma of the colour images (BT.601)"}
    return out


def images_as_channels(images) -> np.ndarray:
    """Float images in 0..1 as ``(N, C, H, W)`` with C 1 or 3, from ``(N, H, W)``,
    ``(N, 1|3, H, W)`` or channel-last ``(N, H, W, 3)`` numpy/torch arrays, float or uint8."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[1] not in (1, 3) and array.shape[-1] in (1, 3):
        array = np.moveaxis(array, -1, 1)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise BadInput(
            f"images must be (N, H, W) gray, (N, 1, H, W), (N, 3, H, W) or (N, H, W, 3) RGB; "
            f"got shape {array.shape}.")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.floating):
        raise BadInput(f"images must be float (0..1) or uint8 (0..255); got "
                                f"{array.dtype}. Convert them, e.g. images / 255.")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise BadInput("float images must be finite and within 0..1 (divide 8-bit "
                                "images by 255).")
    return array


def resized_shape(height: int, width: int, shorter: int) -> tuple[int, int]:
    """The ``(height, width)`` after resizing the shorter side to ``shorter`` pixels, the
    aspect ratio kept (the longer side truncated, as torchvision's Resize does)."""
    if height <= width:
        return shorter, int(shorter * width / height)
    return int(shorter * height / width), shorter


def resize_and_crop(image: np.ndarray, size: int, resize_size: int | None = None,
                    interpolation: str = "bilinear") -> np.ndarray:
    """One image ``(C, H, W)`` in 0..1 resized so its shorter side is ``resize_size``
    (default ``size``; ``interpolation`` bilinear or bicubic, antialiased when shrinking,
    as torchvision's tensor Resize) and centre-cropped to
    ``size`` x ``size``: the evaluation transform of ImageNet classifiers, never a squash."""
    import torch
    import torch.nn.functional as functional

    resize_size = size if resize_size is None else resize_size
    if resize_size < size:
        raise BadInput(f"the resize size ({resize_size}) must be at least the crop "
                                f"size ({size}).")
    channels, height, width = image.shape
    target = resized_shape(height, width, resize_size)
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    if target != (height, width):
        x = functional.interpolate(x, size=target, mode=interpolation, align_corners=False,
                                   antialias=True).clamp_(0.0, 1.0)
    top = int(round((target[0] - size) / 2.0))
    left = int(round((target[1] - size) / 2.0))
    return x[0, :, top:top + size, left:left + size].numpy()


def fit_images(images: np.ndarray, size: int, resize_size: int | None = None,
               interpolation: str = "bilinear") -> np.ndarray:
    """:func:`resize_and_crop` of every image of ``(N, C, H, W)``; returns
    ``(N, C, size, size)`` float32 (unchanged when already that size and no resize asked)."""
    if images.shape[-2:] == (size, size) and resize_size in (None, size):
        return images.astype(np.float32, copy=False)
    return np.stack([resize_and_crop(image, size, resize_size, interpolation)
                     for image in images])
