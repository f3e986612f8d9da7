"""Stimulus sets as xarray Datasets ``images[stimulus, y, x]`` (float32, 0..1).

``tafazoli``: the 10 objects x 38 views of the rat experiments (docs/science.md, section 2);
``render_set``: any objects under any views. Stimuli are ordered object-major
(``stimulus = object_index * n_views + view``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import xarray as xr

from .meshes import load_mesh
from .render import Camera, Renderer, View

# Six natural meshes and four procedural ones (docs/science.md: 6 real-world, 4 artificial).
TAFAZOLI_OBJECTS = (
    "bunny", "duck", "teddy", "mug", "lego", "lamp",
    "procedural:6", "procedural:9", "procedural:18", "procedural:36",
)
DEFAULT_SIZE_DEG = 35.0
POSITIONS_DEG = (-22.5, -15.0, -7.5, 0.0, 7.5, 15.0, 22.5, 30.0)
DEFAULT_POSITIONS_DEG = (-15.0, 15.0)
SIZES_DEG = (15.0, 25.0, 45.0, 55.0)
INPLANE_DEG = (-40.0, -20.0, 20.0, 40.0)
INDEPTH_DEG = (-60.0, -40.0, 40.0, 60.0)
LUMINANCES = (0.5, 0.25, 0.125)


def tafazoli_views() -> list[tuple[str, View]]:
    """The 38 views as ``(transformation, View)``: 8 positions, then at -15 and +15 deg the
    4 sizes, 4 in-plane rotations, 4 in-depth rotations and 3 luminances."""
    views = [("position", View(position_deg=x, size_deg=DEFAULT_SIZE_DEG)) for x in POSITIONS_DEG]
    for x in DEFAULT_POSITIONS_DEG:
        base = dict(position_deg=x, size_deg=DEFAULT_SIZE_DEG)
        views += [("size", View(**{**base, "size_deg": s})) for s in SIZES_DEG]
        views += [("inplane", View(**base, inplane_deg=a)) for a in INPLANE_DEG]
        views += [("indepth", View(**base, indepth_deg=a)) for a in INDEPTH_DEG]
        views += [("luminance", View(**base, luminance=v)) for v in LUMINANCES]
    return views


def render_set(objects: Sequence[str], views: Sequence[tuple[str, View]],
               camera: Camera | None = None, *, name: str = "custom",
               progress: bool = False) -> xr.Dataset:
    """Render every object under every view into one Dataset.

    Returns ``images[stimulus, y, x]`` float32 with per-stimulus coords ``object`` (name),
    ``object_index``, ``view``, ``transformation``, ``position_deg``, ``elevation_deg``,
    ``size_deg``, ``inplane_deg``, ``indepth_deg``, ``luminance``; pixel coords ``x``
    (azimuth, deg) and ``y`` (elevation, deg); attrs ``deg_per_pixel`` and the renderer.
    """
    camera = camera or Camera()
    objects = list(objects)
    for mesh_name in objects:
        load_mesh(mesh_name)  # unknown names fail here, before any rendering
    if len(set(objects)) != len(objects):
        raise ValueError(f"objects must be distinct; got {objects}.")
    n_views = len(views)
    images = np.zeros((len(objects) * n_views, camera.size, camera.size), dtype=np.float32)
    iterator = [(o, v) for o in range(len(objects)) for v in range(n_views)]
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"rendering {name}", unit="image")
    with Renderer(camera) as renderer:
        for o, v in iterator:
            images[o * n_views + v] = renderer.render(objects[o], views[v][1])
    return _as_dataset(images, objects, views, camera, name)


def _as_dataset(images: np.ndarray, objects: list[str], views, camera: Camera,
                name: str) -> xr.Dataset:
    n_views = len(views)
    return stimulus_dataset(
        images,
        objects=np.repeat(np.array(objects), n_views),
        object_index=np.repeat(np.arange(len(objects)), n_views),
        view=np.tile(np.arange(n_views), len(objects)),
        transformation=np.tile(np.array([t for t, _ in views]), len(objects)),
        views=[v for _ in objects for _, v in views],
        camera=camera, name=name)


def stimulus_dataset(images: np.ndarray, *, objects, object_index, view, transformation,
                     views: Sequence[View], camera: Camera, name: str) -> xr.Dataset:
    """Wrap rendered ``images (stimulus, y, x)`` and their per-stimulus labels and views."""
    coords = {key: ("stimulus", np.array([asdict(v)[key] for v in views], dtype=np.float64))
              for key in ("position_deg", "elevation_deg", "size_deg", "inplane_deg",
                          "indepth_deg", "luminance")}
    coords["object"] = ("stimulus", np.asarray(objects).astype(str))
    coords["object_index"] = ("stimulus", np.asarray(object_index, dtype=np.int64))
    coords["view"] = ("stimulus", np.asarray(view, dtype=np.int64))
    coords["transformation"] = ("stimulus", np.asarray(transformation).astype(str))
    azimuth, elevation = camera.pixel_centres_deg()
    coords["x"] = ("x", azimuth)
    coords["y"] = ("y", elevation)
    import pybullet

    return xr.Dataset(
        {"images": (("stimulus", "y", "x"), images)},
        coords=coords,
        attrs={
            "set": name,
            "deg_per_pixel": camera.deg_per_pixel,
            "field_deg": camera.field_deg,
            "image_size": camera.size,
            "supersample": camera.supersample,
            "renderer": f"pybullet {pybullet.getAPIVersion()} ER_TINY_RENDERER",
        },
    )


def tafazoli(size: int = 128, objects: Sequence[str] = TAFAZOLI_OBJECTS, *,
             field_deg: float = 120.0, supersample: int = 2,
             progress: bool = False) -> xr.Dataset:
    """The reference set: 10 objects x 38 views = 380 stimuli (docs/science.md, section 2)."""
    if len(objects) < 2:
        raise ValueError(f"the tafazoli set needs at least 2 objects; got {len(objects)}.")
    camera = Camera(size=size, field_deg=field_deg, supersample=supersample)
    return render_set(objects, tafazoli_views(), camera, name="tafazoli", progress=progress)


def default_position_nearer(rf_azimuth_deg: float) -> float:
    """The default position (-15 or +15 deg) nearer an RF centre; ties go to +15."""
    return min(DEFAULT_POSITIONS_DEG, key=lambda x: (abs(x - rf_azimuth_deg), -x))


def views_23_index(stimuli: xr.Dataset, default_position_deg: float) -> np.ndarray:
    """Indices of the 23-view stimuli: the 8 positions plus the 15 non-position views at
    ``default_position_deg`` (-15 or +15)."""
    transformation = stimuli.transformation.values
    keep = (transformation == "position") | (stimuli.position_deg.values == default_position_deg)
    return np.flatnonzero(keep)


def select_23_views(stimuli: xr.Dataset, rf_azimuth_deg: float) -> xr.Dataset:
    """The 23 views a single unit is analysed on: the 8 positions plus the 15 non-position
    views at the default position nearer the unit's RF centre (azimuth, deg)."""
    return stimuli.isel(stimulus=views_23_index(stimuli, default_position_nearer(rf_azimuth_deg)))


def select_19_views(stimuli: xr.Dataset, rf_azimuth_deg: float = 15.0) -> xr.Dataset:
    """The 19 views of population analyses: the 15 non-position views at the default position
    nearer ``rf_azimuth_deg`` plus the 4 positions nearest that default position (itself
    included; ties broken toward the screen centre).

    Tafazoli 2017 does not spell out which 19 views; this is the project's definition.
    """
    nearer = default_position_nearer(rf_azimuth_deg)
    ranked = sorted(POSITIONS_DEG, key=lambda x: (abs(x - nearer), abs(x)))
    positions = set(ranked[:4])
    transformation = stimuli.transformation.values
    position = stimuli.position_deg.values
    keep = ((transformation == "position") & np.isin(position, list(positions))) | (
        (transformation != "position") & (position == nearer))
    return stimuli.isel(stimulus=np.flatnonzero(keep))


GENERALISATION_TRAIN_POSITION_DEG = 15.0


def decoding_labels(stimuli: xr.Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """Object codes ``(stimuli,)``, view codes ``(stimuli,)`` and the view that
    generalisation decoders train on: the default view (default pose and size) at the
    +15 deg position for the tafazoli set, else view 0 (docs/science.md, section 5)."""
    objects = np.unique(stimuli["object"].values.astype(str), return_inverse=True)[1]
    views = np.unique(stimuli["view"].values.astype(str), return_inverse=True)[1]
    train_view = 0
    if "transformation" in stimuli.coords:
        default = ((stimuli["transformation"].values == "position")
                   & np.isclose(stimuli["position_deg"].values,
                                GENERALISATION_TRAIN_POSITION_DEG))
        if default.any():
            train_view = int(views[np.flatnonzero(default)[0]])
    return objects, views, train_view
