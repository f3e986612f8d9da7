"""The 3D objects: meshes shipped with pybullet_data, named and put in a canonical pose.

A mesh is referred to by a short name: one of the natural objects below (``"bunny"``,
``"duck"``, ...) or ``"procedural:<index>"`` for the 1,000 procedural shapes in
``pybullet_data/random_urdfs`` (index 0..999).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

N_PROCEDURAL = 1000

# Natural objects: file under pybullet_data and the rotation (x, y, z Euler angles, degrees)
# that stands the object upright, seen from the side, with the camera looking along +y and
# z up.
NATURAL_MESHES: dict[str, tuple[str, tuple[float, float, float]]] = {
    "bunny": ("bunny.obj", (90.0, 0.0, 30.0)),
    "duck": ("duck.obj", (90.0, 0.0, 30.0)),
    "teddy": ("teddy2_VHACD_CHs.obj", (90.0, 0.0, 30.0)),
    "mug": ("objects/mug.obj", (0.0, 0.0, 120.0)),
    "lego": ("lego/lego.obj", (90.0, 0.0, 30.0)),
    "lamp": ("kuka_iiwa/meshes/link_1.obj", (0.0, 0.0, 30.0)),
    "soccerball": ("soccerball.obj", (0.0, 0.0, 0.0)),
    "torus": ("torus/torus_textured.obj", (60.0, 0.0, 0.0)),
    "sensor": ("racecar/meshes/hokuyo.obj", (0.0, 0.0, 30.0)),
}

# Procedural shapes are assemblies of convex pieces; these are given a fixed oblique pose so
# that their default view shows more than one face.
PROCEDURAL_POSE_DEG = (20.0, 0.0, 30.0)


def data_path() -> Path:
    """Folder of the meshes shipped with pybullet (``pybullet_data``)."""
    import pybullet_data

    return Path(pybullet_data.getDataPath())


@dataclass(frozen=True)
class Mesh:
    """A mesh file with its canonical pose and normalisation.

    ``centre`` (3,) and ``radius`` are in the file's units, in the canonical pose: the centre
    of the bounding box of the default view's silhouette (x, z) and of the depth (y) range,
    and the largest distance of a vertex from that centre in the image plane. Rendering at
    size ``s`` degrees scales the mesh by ``s / (2 * radius)``, so the silhouette's bounding
    circle about ``centre`` has diameter ``s`` in the default view. ``radius_3d`` bounds the
    mesh in every pose (used for the depth range of the camera).
    """

    name: str
    path: Path
    pose: np.ndarray  # (3, 3) canonical rotation
    centre: np.ndarray  # (3,) in the canonical frame
    radius: float
    radius_3d: float


def mesh_names(natural: bool = True, procedural: bool = True) -> list[str]:
    """All valid mesh names."""
    names = list(NATURAL_MESHES) if natural else []
    if procedural:
        names += [f"procedural:{i}" for i in range(N_PROCEDURAL)]
    return names


def read_obj_vertices(path: Path) -> np.ndarray:
    """Vertices ``(n, 3)`` of a Wavefront OBJ file (``v x y z`` lines)."""
    rows = []
    with open(path) as handle:
        for line in handle:
            if line.startswith("v "):
                rows.append(line.split()[1:4])
    if not rows:
        raise ValueError(f"{path} has no vertices; is it a Wavefront .obj mesh?")
    return np.asarray(rows, dtype=np.float64)


def _resolve(name: str) -> tuple[Path, tuple[float, float, float]]:
    if name in NATURAL_MESHES:
        relative, pose = NATURAL_MESHES[name]
        return data_path() / relative, pose
    if name.startswith("procedural:"):
        index_text = name.split(":", 1)[1]
        if index_text.isdigit() and 0 <= int(index_text) < N_PROCEDURAL:
            index = int(index_text)
            mesh = data_path() / "random_urdfs" / f"{index:03d}" / f"{index:03d}.obj"
            return mesh, PROCEDURAL_POSE_DEG
    raise ValueError(
        f"unknown mesh {name!r}. Valid names: {', '.join(NATURAL_MESHES)}, or "
        f"procedural:<index> with index 0..{N_PROCEDURAL - 1}."
    )


@cache
def load_mesh(name: str) -> Mesh:
    """Resolve a mesh name, read its vertices and compute its normalisation."""
    path, pose_deg = _resolve(name)
    pose = Rotation.from_euler("xyz", pose_deg, degrees=True).as_matrix()
    vertices = read_obj_vertices(path) @ pose.T
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    centre = (low + high) / 2
    offsets = vertices - centre
    radius = float(np.sqrt(offsets[:, 0] ** 2 + offsets[:, 2] ** 2).max())
    radius_3d = float(np.linalg.norm(offsets, axis=1).max())
    return Mesh(name=name, path=path, pose=pose, centre=centre, radius=radius, radius_3d=radius_3d)
