"""Stimuli: rendered 3D objects under identity-preserving transformations, RF-mapping bars,
a user's own images, and the image properties whose information units carry or prune."""

from .bars import bars
from .folder import folder_fingerprint, from_arrays, load_folder
from .meshes import NATURAL_MESHES, mesh_names
from .render import Camera, Renderer, View
from .sets import (
                   TAFAZOLI_OBJECTS,
                   decoding_labels,
                   render_set,
                   select_19_views,
                   select_23_views,
                   tafazoli,
                   tafazoli_views,
)
from .storage import load_stimuli, montage, save_montage, save_stimuli
from .training import TrainingStream, ViewRanges, training_objects

__all__ = [
    "Camera", "NATURAL_MESHES", "Renderer", "TAFAZOLI_OBJECTS", "TrainingStream", "View",
    "ViewRanges", "bars", "decoding_labels", "folder_fingerprint", "from_arrays", "load_folder",
    "load_stimuli", "mesh_names", "montage",
    "render_set", "save_montage", "save_stimuli", "select_19_views", "select_23_views",
    "tafazoli", "tafazoli_views", "training_objects",
]
