"""Headless rendering of one object under one view, in degrees of visual angle.

Camera model: the image is a square crop of a virtual screen, ``field_deg`` wide, centred on
azimuth 0 and elevation 0; visual angle maps linearly to pixels (``deg_per_pixel =
field_deg / size``), positive azimuth to the right and positive elevation up. The object is
rendered with pybullet's software renderer (``ER_TINY_RENDERER``) through a camera so distant
that perspective changes the object's apparent size by less than 0.5 %, i.e. an almost
orthographic view in which the object's size and position in degrees are exact.

Images are grayscale in 0..1, the object white (shaded by one fixed light) on black, and
anti-aliased by rendering ``supersample`` times larger and averaging blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .meshes import Mesh, load_mesh

# Camera distance in degree units (object size / 2 in the same units, at most ~30): keeps the
# perspective magnification within 30 / 10000 while the depth range stays well conditioned.
CAMERA_DISTANCE_DEG = 1.0e4
LIGHT_DIRECTION = (-1.0, -2.0, 1.5)  # from the viewer's side, upper left
LIGHT_AMBIENT, LIGHT_DIFFUSE = 0.35, 0.65


@dataclass(frozen=True)
class Camera:
    """Image geometry: ``size`` pixels square covering ``field_deg`` degrees of visual angle."""

    size: int = 128
    field_deg: float = 120.0
    supersample: int = 2

    def __post_init__(self):
        if not 8 <= self.size <= 1024:
            raise ValueError(f"image size must be 8..1024 pixels; got {self.size}.")
        if not 0 < self.field_deg <= 180:
            raise ValueError(f"field_deg must be in (0, 180]; got {self.field_deg}.")
        if self.supersample < 1:
            raise ValueError(f"supersample must be >= 1; got {self.supersample}.")

    @property
    def deg_per_pixel(self) -> float:
        return self.field_deg / self.size

    def pixel_centres_deg(self) -> tuple[np.ndarray, np.ndarray]:
        """Azimuth of each column and elevation of each row, both ``(size,)``, in degrees.

        Row 0 is the top of the image (highest elevation).
        """
        offsets = (np.arange(self.size) + 0.5) * self.deg_per_pixel - self.field_deg / 2
        return offsets, -offsets


@dataclass(frozen=True)
class View:
    """One identity-preserving transformation of an object.

    position_deg, elevation_deg: centre of the object's bounding circle (degrees);
    size_deg: diameter of the bounding circle in the default pose (degrees);
    inplane_deg: rotation in the image plane, counterclockwise as seen by the viewer;
    indepth_deg: rotation about the vertical axis (a true 3D rotation of the mesh);
    luminance: intensity scale, 1 = full brightness.
    """

    position_deg: float = 0.0
    size_deg: float = 35.0
    inplane_deg: float = 0.0
    indepth_deg: float = 0.0
    luminance: float = 1.0
    elevation_deg: float = 0.0

    def __post_init__(self):
        if not self.size_deg > 0:
            raise ValueError(f"size_deg must be positive; got {self.size_deg}.")
        if not 0 <= self.luminance <= 1:
            raise ValueError(f"luminance must be in 0..1; got {self.luminance}.")


def _perspective(left: float, right: float, bottom: float, top: float, near: float,
                 far: float) -> list[float]:
    """OpenGL frustum matrix, column-major, as pybullet expects."""
    m = np.zeros((4, 4))
    m[0, 0] = 2 * near / (right - left)
    m[1, 1] = 2 * near / (top - bottom)
    m[0, 2] = (right + left) / (right - left)
    m[1, 2] = (top + bottom) / (top - bottom)
    m[2, 2] = -(far + near) / (far - near)
    m[2, 3] = -2 * far * near / (far - near)
    m[3, 2] = -1.0
    return m.T.reshape(-1).tolist()


def _look_along_y(distance: float) -> list[float]:
    """View matrix of a camera at (0, -distance, 0) looking at the origin, z up."""
    m = np.array([
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, -1.0, 0.0, -distance],
        [0.0, 0.0, 0.0, 1.0],
    ])
    return m.T.reshape(-1).tolist()


def view_rotation(view: View) -> np.ndarray:
    """Rotation ``(3, 3)`` applied to the canonically posed mesh: in-depth, then in-plane."""
    indepth = Rotation.from_rotvec([0.0, 0.0, np.radians(view.indepth_deg)])
    # The camera looks along +y, so a counterclockwise turn seen by the viewer is about -y.
    inplane = Rotation.from_rotvec([0.0, -np.radians(view.inplane_deg), 0.0])
    return (inplane * indepth).as_matrix()


class Renderer:
    """A private pybullet connection that renders meshes one body at a time.

    Use as a context manager, or call :meth:`close`. Visual shapes are cached per mesh, so
    rendering many views of the same objects parses each mesh file once.
    """

    def __init__(self, camera: Camera | None = None):
        import pybullet

        self.camera = camera or Camera()
        self._p = pybullet
        self._client = pybullet.connect(pybullet.DIRECT)
        self._shapes: dict[str, int] = {}

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._p.disconnect(physicsClientId=self._client)
            self._client = None

    def _shape(self, mesh: Mesh) -> int:
        if mesh.name not in self._shapes:
            scale = 1.0 / (2.0 * mesh.radius)  # bounding-circle diameter 1 in object units
            orientation = Rotation.from_matrix(mesh.pose).as_quat()  # x, y, z, w
            self._shapes[mesh.name] = self._p.createVisualShape(
                self._p.GEOM_MESH,
                fileName=str(mesh.path),
                meshScale=[scale] * 3,
                rgbaColor=[1, 1, 1, 1],
                visualFramePosition=(-mesh.centre * scale).tolist(),
                visualFrameOrientation=orientation.tolist(),
                physicsClientId=self._client,
            )
        return self._shapes[mesh.name]

    def render(self, mesh_name: str, view: View) -> np.ndarray:
        """Render ``mesh_name`` under ``view``: float32 ``(size, size)`` in 0..1."""
        if self._client is None:
            raise RuntimeError("this Renderer is closed.")
        mesh = load_mesh(mesh_name)
        camera = self.camera
        # World units are object diameters, so one mesh shape serves every size.
        per_deg = 1.0 / view.size_deg
        distance = CAMERA_DISTANCE_DEG * per_deg
        depth = mesh.radius_3d / (2.0 * mesh.radius) + 0.01
        near, far = distance - depth, distance + depth
        half = camera.field_deg / 2 * per_deg * near / distance
        orientation = Rotation.from_matrix(view_rotation(view)).as_quat()
        body = self._p.createMultiBody(
            baseVisualShapeIndex=self._shape(mesh),
            basePosition=[view.position_deg * per_deg, 0.0, view.elevation_deg * per_deg],
            baseOrientation=orientation.tolist(),
            physicsClientId=self._client,
        )
        try:
            self._p.changeVisualShape(body, -1, textureUniqueId=-1, physicsClientId=self._client)
            pixels = camera.size * camera.supersample
            _, _, rgba, _, segmentation = self._p.getCameraImage(
                pixels, pixels,
                viewMatrix=_look_along_y(distance),
                projectionMatrix=_perspective(-half, half, -half, half, near, far),
                renderer=self._p.ER_TINY_RENDERER,
                lightDirection=LIGHT_DIRECTION,
                lightAmbientCoeff=LIGHT_AMBIENT,
                lightDiffuseCoeff=LIGHT_DIFFUSE,
                lightSpecularCoeff=0.0,
                shadow=0,
                physicsClientId=self._client,
            )
        finally:
            self._p.removeBody(body, physicsClientId=self._client)
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(pixels, pixels, 4)
        object_pixels = np.asarray(segmentation).reshape(pixels, pixels) >= 0
        gray = np.where(object_pixels, rgba[..., 0], 0).astype(np.float32) / 255.0
        s = camera.supersample
        gray = gray.reshape(camera.size, s, camera.size, s).mean(axis=(1, 3), dtype=np.float32)
        return gray * np.float32(view.luminance)
