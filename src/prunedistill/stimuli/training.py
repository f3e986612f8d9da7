"""An endless, seeded stream of fresh renders of many objects, for training a network.

The objects are procedural meshes, none of them in the ``tafazoli`` set; every image shows one
object under a random view drawn from the ranges of the ``tafazoli`` transformations. Epoch
``e`` of a stream with seed ``s`` is a pure function of ``(s, e)``: the same in every run,
different from every other epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .meshes import N_PROCEDURAL
from .render import Camera, Renderer, View
from .sets import TAFAZOLI_OBJECTS


@dataclass(frozen=True)
class ViewRanges:
    """Uniform ranges of the random transformations (degrees; luminance as a fraction)."""

    position_deg: tuple[float, float] = (-22.5, 30.0)
    size_deg: tuple[float, float] = (15.0, 55.0)
    inplane_deg: tuple[float, float] = (-40.0, 40.0)
    indepth_deg: tuple[float, float] = (-60.0, 60.0)
    luminance: tuple[float, float] = (0.125, 1.0)

    def sample(self, rng: np.random.Generator, n: int) -> list[View]:
        columns = {name: rng.uniform(low, high, size=n)
                   for name, (low, high) in self.__dict__.items()}
        return [View(**{name: float(values[i]) for name, values in columns.items()})
                for i in range(n)]


def training_objects(n: int, exclude: Sequence[str] = TAFAZOLI_OBJECTS) -> list[str]:
    """The first ``n`` procedural meshes not in ``exclude``."""
    excluded = set(exclude)
    names = [f"procedural:{i}" for i in range(N_PROCEDURAL) if f"procedural:{i}" not in excluded]
    if not 2 <= n <= len(names):
        raise ValueError(f"the training set needs 2..{len(names)} objects; got {n}.")
    return names[:n]


class TrainingStream:
    """Seeded stream of ``(image, label)`` pairs: image float32 ``(size, size)`` in 0..1,
    label the object's index in :attr:`objects`.

    ``epoch_images`` images per epoch, each object equally often (up to rounding), in a
    random order; the views are redrawn every epoch.
    """

    def __init__(self, n_objects: int = 50, *, camera: Camera | None = None, seed: int = 0,
                 epoch_images: int = 10_000, ranges: ViewRanges | None = None,
                 objects: Sequence[str] | None = None):
        self.objects = list(objects) if objects is not None else training_objects(n_objects)
        overlap = set(self.objects) & set(TAFAZOLI_OBJECTS)
        if overlap:
            raise ValueError(f"training objects {sorted(overlap)} are in the tafazoli set; "
                             "the network must be tested on objects it never saw.")
        self.camera = camera or Camera(size=64)
        self.seed = seed
        self.epoch_images = epoch_images
        self.ranges = ranges or ViewRanges()

    def plan(self, epoch: int, *, stream: int = 0) -> tuple[np.ndarray, list[View]]:
        """Labels ``(epoch_images,)`` and views of one epoch, without rendering.

        ``stream`` separates independent sequences with the same seed (0 = training, 1 =
        held-out views).
        """
        rng = np.random.default_rng([self.seed, stream, epoch])
        n = self.epoch_images
        labels = rng.permutation(np.resize(np.arange(len(self.objects)), n))
        return labels, self.ranges.sample(rng, n)

    def epoch(self, epoch: int, *, stream: int = 0) -> Iterator[tuple[np.ndarray, int]]:
        labels, views = self.plan(epoch, stream=stream)
        with Renderer(self.camera) as renderer:
            for label, view in zip(labels, views):
                yield renderer.render(self.objects[label], view), int(label)

    def batches(self, epoch: int, batch_size: int, *, stream: int = 0
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches ``(images (b, size, size) float32, labels (b,) int64)`` of one epoch."""
        images, labels = [], []
        for image, label in self.epoch(epoch, stream=stream):
            images.append(image)
            labels.append(label)
            if len(images) == batch_size:
                yield np.stack(images), np.asarray(labels, dtype=np.int64)
                images, labels = [], []
        if images:
            yield np.stack(images), np.asarray(labels, dtype=np.int64)

    def held_out(self, n_images: int) -> tuple[np.ndarray, np.ndarray]:
        """A fixed set of views never drawn in training epochs: ``(images, labels)``."""
        held = TrainingStream(camera=self.camera, seed=self.seed, epoch_images=n_images,
                              ranges=self.ranges, objects=self.objects)
        images, labels = zip(*held.epoch(0, stream=1))
        return np.stack(images), np.asarray(labels, dtype=np.int64)

    def as_dataset(self, epoch: int = 0, *, stream: int = 0):
        """Render one epoch into a stimulus Dataset (``object_index`` = label, ``view`` = the
        image's place in the epoch, ``transformation`` = "random")."""
        from .sets import stimulus_dataset

        labels, views = self.plan(epoch, stream=stream)
        images = np.stack([image for image, _ in self.epoch(epoch, stream=stream)])
        return stimulus_dataset(
            images, objects=[self.objects[i] for i in labels], object_index=labels,
            view=np.arange(len(labels)), transformation=np.full(len(labels), "random"),
            views=views, camera=self.camera, name="training")

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        """Endless: epoch 0, 1, 2, ..."""
        epoch = 0
        while True:
            yield from self.epoch(epoch)
            epoch += 1
