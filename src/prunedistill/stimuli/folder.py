"""A user's own stimuli: a folder of images plus a CSV of their metadata.

The CSV has one row per image with columns ``file`` (path relative to the folder),
``object`` and ``view``; every other column must be numeric and becomes a per-stimulus
coordinate (e.g. ``position_deg``, ``luminance``). Images are converted to grayscale 0..1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

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


def _read_image(path: Path, size: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.convert("L")
            if size is not None and gray.size != (size, size):
                gray = gray.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(gray, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"cannot read image {path}: {error}. Use PNG, JPEG or TIFF.") from None


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
        path = folder / str(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}, listed in {csv_path}, does not exist.")
        digest.update(str(name).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_folder(folder, metadata_csv=None, *, field_deg: float = 120.0,
                size: int | None = None) -> xr.Dataset:
    """Load ``folder`` with its metadata CSV (default ``folder/metadata.csv``).

    All images must be square and of one size, unless ``size`` is given (then each is
    resized to ``size`` x ``size``). ``field_deg`` is the visual angle the image width spans.
    Returns ``images[stimulus, y, x]`` float32 with coords ``file``, ``object``, ``view`` and
    one per numeric CSV column, as the rendered sets do.
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
    images = [_read_image(p, size) for p in paths]
    shapes = sorted({im.shape for im in images})
    if len(shapes) > 1 or shapes[0][0] != shapes[0][1]:
        raise ValueError(
            f"images must be square and all the same size; found sizes {shapes[:5]}. "
            "Resize them all: --resize with --size N on the command line, stimuli.resize: "
            "true in a study (size=N in Python).")
    return stimulus_set(np.stack(images), table, field_deg=field_deg, name="folder",
                        source=str(folder.resolve()))


def stimulus_set(images: np.ndarray, table: pd.DataFrame, *, field_deg: float, name: str,
                 source: str) -> xr.Dataset:
    """A stimulus Dataset from square grayscale ``images (stimulus, y, x)`` in 0..1 and one
    metadata row per image (``object``, ``view`` and numeric columns become coordinates)."""
    camera = Camera(size=images.shape[-1], field_deg=field_deg, supersample=1)
    coords = {column: ("stimulus", table[column].to_numpy()) for column in table.columns}
    for column in REQUIRED_COLUMNS:
        if column in table.columns:
            coords[column] = ("stimulus", np.array(table[column].astype(str).tolist(),
                                                   dtype=str))
    azimuth, elevation = camera.pixel_centres_deg()
    coords["x"], coords["y"] = ("x", azimuth), ("y", elevation)
    return xr.Dataset(
        {"images": (("stimulus", "y", "x"), images.astype(np.float32, copy=False))},
        coords=coords,
        attrs={"set": name, "source": source, "deg_per_pixel": camera.deg_per_pixel,
               "field_deg": field_deg, "image_size": camera.size},
    )


def from_arrays(images, metadata: pd.DataFrame | None = None, *,
                field_deg: float = 120.0) -> xr.Dataset:
    """A stimulus set from images in memory: ``(N, H, W)`` or ``(N, 1, H, W)``, numpy or
    torch, float in 0..1 or uint8 (divided by 255), square; ``metadata`` one row per image
    with optional ``object`` and ``view`` (default: one object, view = the image's index)
    and any numeric columns."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim == 4:
        raise ValueError(f"images are {images.shape} (N, C, H, W) with C = {images.shape[1]}; "
                         "only grayscale (N, H, W) or (N, 1, H, W) is supported so far. "
                         "Convert to luminance first.")
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be (N, H, W) with square images; got {images.shape}.")
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    elif not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be float (0..1) or uint8; got {images.dtype}.")
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise ValueError("float images must be finite and within 0..1 (divide 8-bit images "
                         "by 255).")
    table = pd.DataFrame(index=range(len(images))) if metadata is None else \
        metadata.reset_index(drop=True)
    if len(table) != len(images):
        raise ValueError(f"metadata has {len(table)} rows for {len(images)} images; give one "
                         "row per image, in the same order.")
    table = table.copy()
    if "object" not in table:
        table["object"] = "all"
    if "view" not in table:
        table["view"] = np.arange(len(table))
    for column in table.columns:
        if column not in REQUIRED_COLUMNS and not pd.api.types.is_numeric_dtype(table[column]):
            raise ValueError(f"metadata column {column!r} is not numeric; besides object and "
                             "view, properties must be numbers.")
    return stimulus_set(images, table, field_deg=field_deg, name="arrays", source="memory")
