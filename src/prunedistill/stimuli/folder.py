"""A user's own stimuli: a folder of images plus a CSV of their metadata.

The CSV has one row per image with columns ``file`` (path relative to the folder),
``object`` and ``view``; every other column must be numeric and becomes a per-stimulus
coordinate (e.g. ``position_deg``, ``luminance``). Colour images stay colour (RGB, 0..1);
a folder of gray images gives a gray set. At a given ``size`` each image is resized (its
shorter side) and centre-cropped, as ImageNet evaluation transforms do; images are never
squashed to square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import BadInput
from .pixels import CHANNELS, fit_images, images_as_channels, luma
from .render import Camera

REQUIRED_COLUMNS = ("file", "object", "view")


def _read_metadata(csv_path: Path) -> pd.DataFrame:
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"metadata file {csv_path} does not exist; give a CSV with columns "
            f"{', '.join(REQUIRED_COLUMNS)} and any numeric properties.")
    try:
        table = pd.read_csv(csv_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {csv_path} as CSV: {error}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{csv_path} lacks column(s) {missing}; it has {list(table.columns)}. "
            f"Required: {', '.join(REQUIRED_COLUMNS)}.")
    if table.empty:
        raise ValueError(f"{csv_path} lists no images.")
    for column in REQUIRED_COLUMNS:
        if table[column].isna().any():
            rows = (np.flatnonzero(table[column].isna()) + 2).tolist()[:5]
            raise ValueError(f"{csv_path}: column {column!r} is empty on line(s) {rows}.")
    for column in table.columns:
        if column in REQUIRED_COLUMNS:
            continue
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise ValueError(
                f"{csv_path}: column {column!r} is not numeric (first value "
                f"{table[column].iloc[0]!r}); properties must be numbers. Remove it or encode it.")
        if table[column].isna().any():
            rows = (np.flatnonzero(table[column].isna()) + 2).tolist()[:5]
            raise ValueError(f"{csv_path}: column {column!r} has no value on line(s) {rows}.")
    duplicated = table["file"][table["file"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{csv_path} lists these files more than once: {duplicated[:5]}.")
    return table


GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _read_image(path: Path) -> np.ndarray:
    """One image file as ``(C, H, W)`` float32 in 0..1: C = 1 for gray files, 3 (RGB) for
    colour ones (palette and CMYK files are converted to RGB, alpha dropped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode in GRAY_MODES:
                return (np.asarray(image.convert("L"), dtype=np.float32) / 255.0)[None]
            return np.moveaxis(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0,
                               -1, 0)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read image {path}: {error}. Use PNG, JPEG or TIFF.") from None


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def image_files(folder) -> list[Path]:
    """Every image file (PNG, JPEG, TIFF, BMP, by suffix) under ``folder``, subfolders
    included, sorted by relative path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist.")
    return sorted((p for p in folder.rglob("*") if p.is_file()
                   and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: p.relative_to(folder).as_posix())


def _add_files(digest, folder: Path, names) -> None:
    """Add each file's name (relative to ``folder``) and the SHA-256 of its bytes."""
    import hashlib

    for name in names:
        digest.update(str(name).encode() + b"\0"
                      + hashlib.sha256((folder / str(name)).read_bytes()).digest())


def images_fingerprint(folder) -> str:
    """SHA-256 over the relative path and bytes of every image in ``folder``."""
    import hashlib

    folder = Path(folder)
    digest = hashlib.sha256()
    _add_files(digest, folder, [p.relative_to(folder).as_posix() for p in image_files(folder)])
    return digest.hexdigest()


def load_images(folder, *, size: int, resize_size: int | None = None,
                grayscale: bool = False, interpolation: str = "bilinear",
                field_deg: float = 120.0) -> xr.Dataset:
    """Every image in ``folder`` (no metadata needed), each resized (shorter side to
    ``resize_size``, default ``size``) and centre-cropped to ``size``; colour stays colour
    unless ``grayscale`` (luma). ``object`` is "image" and ``view`` the relative path. Used
    as the points of the ID: ``images[point, ...]`` as :func:`load_folder` returns them."""
    folder = Path(folder)
    paths = image_files(folder)
    if not paths:
        raise BadInput(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    names = [p.relative_to(folder).as_posix() for p in paths]
    table = pd.DataFrame({"file": names, "object": "image", "view": names})
    images = _as_set_images([_read_image(p) for p in paths], size, resize_size, grayscale,
                            str(folder), interpolation)
    return stimulus_set(images, table, field_deg=field_deg, name="images",
                        source=str(folder.resolve()))


def folder_is_colour(folder, metadata_csv=None) -> bool:
    """Whether any image the metadata lists is a colour file (read from headers only)."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    csv_path = Path(metadata_csv) if metadata_csv is not None else folder / "metadata.csv"
    for name in _read_metadata(csv_path)["file"]:
        try:
            with Image.open(folder / str(name)) as image:
                if image.mode not in GRAY_MODES:
                    return True
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"cannot read image {folder / str(name)}: {error}. Use PNG, JPEG "
                             "or TIFF.") from None
    return False


def _as_set_images(images: list[np.ndarray], size: int | None, resize_size: int | None,
                   grayscale: bool, where: str, interpolation: str = "bilinear"
                   ) -> np.ndarray:
    """``(N, H, W)`` gray or ``(N, 3, H, W)`` colour images from per-image ``(C, H, W)``
    arrays: fitted to ``size`` (resize + centre crop) when given, else required square and
    of one size."""
    colour = any(image.shape[0] == 3 for image in images) and not grayscale
    channels = 3 if colour else 1
    fitted = []
    for image in images:
        if image.shape[0] != channels:
            image = np.repeat(image, 3, axis=0) if colour else luma(image[None])[0][None]
        if size is not None:
            image = fit_images(image[None], size, resize_size, interpolation)[0]
        fitted.append(image)
    shapes = sorted({image.shape[1:] for image in fitted})
    if len(shapes) > 1 or shapes[0][0] != shapes[0][1]:
        raise BadInput(
            f"{where}: images must be square and all the same size to be used as they are; "
            f"found sizes {shapes[:5]}. Give a size (--size N on the command line, size=N in "
            "Python; a study fits them to each network's input): each image is then resized "
            "and centre-cropped, never squashed.")
    stacked = np.stack(fitted)
    return stacked if colour else stacked[:, 0]


def folder_fingerprint(folder, metadata_csv=None) -> str:
    """SHA-256 over the bytes of every file :func:`load_folder` reads: the metadata CSV and
    each image it lists, wherever it lies (subfolders, ``../``). Any change to any of them
    changes the fingerprint."""
    import hashlib

    folder = Path(folder)
    csv_path = Path(metadata_csv) if metadata_csv is not None else folder / "metadata.csv"
    table = _read_metadata(csv_path)
    digest = hashlib.sha256(csv_path.read_bytes())
    for name in table["file"]:
        if not (folder / str(name)).is_file():
            raise FileNotFoundError(f"{folder / str(name)}, listed in {csv_path}, does not "
                                    "exist.")
    _add_files(digest, folder, table["file"])
    return digest.hexdigest()


def load_folder(folder, metadata_csv=None, *, field_deg: float = 120.0,
                size: int | None = None, resize_size: int | None = None,
                grayscale: bool = False, interpolation: str = "bilinear") -> xr.Dataset:
    """Load ``folder`` with its metadata CSV (default ``folder/metadata.csv``).

    Without ``size`` all images must be square and of one size. With ``size`` each image's
    shorter side is resized to ``resize_size`` (default ``size``) and the centre
    ``size`` x ``size`` is cropped. ``grayscale`` converts colour images to their luma.
    ``field_deg`` is the visual angle the (cropped) image width spans. Returns
    ``images[stimulus, y, x]`` (gray) or ``images[stimulus, channel, y, x]`` (colour, RGB)
    float32 in 0..1, with coords ``file``, ``object``, ``view`` and one per numeric CSV
    column, as the rendered sets do.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"stimulus folder {folder} does not exist.")
    csv_path = Path(metadata_csv) if metadata_csv is not None else folder / "metadata.csv"
    table = _read_metadata(csv_path)
    paths = [folder / str(name) for name in table["file"]]
    inside = folder.resolve()
    outside = [str(name) for name, p in zip(table["file"], paths)
               if not p.resolve().is_relative_to(inside)]
    if outside:
        raise ValueError(f"{csv_path} lists {len(outside)} file(s) outside {folder}, e.g. "
                         f"{outside[:3]}; put (or link) every image inside the folder.")
    pairs = table[["object", "view"]].astype(str)
    repeated = pairs[pairs.duplicated(keep=False)].drop_duplicates()
    if len(repeated):
        shown = [f"{o}/{v}" for o, v in repeated.head(3).itertuples(index=False)]
        raise ValueError(f"{csv_path} has {len(repeated)} (object, view) pair(s) on more than "
                         f"one row, e.g. {shown}; each image needs its own view.")
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise FileNotFoundError(
            f"{len(absent)} image(s) listed in {csv_path} are not in {folder}, e.g. "
            f"{absent[:3]}. Fix the 'file' column or add the images.")
    images = _as_set_images([_read_image(p) for p in paths], size, resize_size, grayscale,
                            str(folder), interpolation)
    return stimulus_set(images, table, field_deg=field_deg, name="folder",
                        source=str(folder.resolve()))


def stimulus_set(images: np.ndarray, table: pd.DataFrame, *, field_deg: float, name: str,
                 source: str) -> xr.Dataset:
    """A stimulus Dataset from square ``images``, gray ``(stimulus, y, x)`` or colour
    ``(stimulus, 3, y, x)``, in 0..1, and one metadata row per image (``object``, ``view``
    and numeric columns become coordinates)."""
    camera = Camera(size=images.shape[-1], field_deg=field_deg, supersample=1)
    coords = {column: ("stimulus", table[column].to_numpy()) for column in table.columns}
    for column in REQUIRED_COLUMNS:
        if column in table.columns:
            coords[column] = ("stimulus", np.array(table[column].astype(str).tolist(),
                                                   dtype=str))
    azimuth, elevation = camera.pixel_centres_deg()
    coords["x"], coords["y"] = ("x", azimuth), ("y", elevation)
    dims = ("stimulus", "y", "x")
    if images.ndim == 4:
        dims = ("stimulus", "channel", "y", "x")
        coords["channel"] = ("channel", np.array(CHANNELS))
    return xr.Dataset(
        {"images": (dims, images.astype(np.float32, copy=False))},
        coords=coords,
        attrs={"set": name, "source": source, "deg_per_pixel": camera.deg_per_pixel,
               "field_deg": field_deg, "image_size": camera.size},
    )


def from_arrays(images, metadata: pd.DataFrame | None = None, *, field_deg: float = 120.0,
                size: int | None = None, resize_size: int | None = None,
                grayscale: bool = False, interpolation: str = "bilinear") -> xr.Dataset:
    """A stimulus set from images in memory: gray ``(N, H, W)`` or ``(N, 1, H, W)``, colour
    ``(N, 3, H, W)`` or ``(N, H, W, 3)``, numpy or torch, float in 0..1 or uint8 (divided by
    255). With ``size`` they are resized and centre-cropped as :func:`load_folder` does;
    without it non-square images are centre-cropped to their shorter side. ``metadata``: one
    row per image with optional ``object`` and ``view`` (default: one object, view = the
    image's index) and any numeric columns."""
    array = images_as_channels(images)
    if size is None and array.shape[-2] != array.shape[-1]:
        size = min(array.shape[-2:])
    table = pd.DataFrame(index=range(len(array))) if metadata is None else \
        metadata.reset_index(drop=True)
    if not isinstance(table, pd.DataFrame):
        raise BadInput(f"metadata must be a pandas DataFrame; got "
                                f"{type(metadata).__name__}.")
    if len(table) != len(array):
        raise BadInput(f"metadata has {len(table)} rows for {len(array)} images; give "
                                "one row per image, in the same order.")
    table = table.copy()
    if "object" not in table:
        table["object"] = "all"
    if "view" not in table:
        table["view"] = np.arange(len(table))
    for column in table.columns:
        if column not in REQUIRED_COLUMNS and not pd.api.types.is_numeric_dtype(table[column]):
            raise BadInput(f"metadata column {column!r} is not numeric; besides "
                                    "object and view, properties must be numbers.")
    fitted = _as_set_images(list(array), size, resize_size, grayscale, "images",
                            interpolation)
    return stimulus_set(fitted, table, field_deg=field_deg, name="arrays", source="memory")
