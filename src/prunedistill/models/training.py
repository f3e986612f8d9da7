"""Training the embedded CNN on the stimulus training stream (fresh renders every epoch).

``train_embedded(TrainingConfig())`` reproduces the committed model: same objects, same
seeded stream, same optimiser. Rendering runs in a background process while the network
trains, so the two share the CPU cores.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._io import atomic_path, write_text
from .embedded import EmbeddedCNN
from .registry import sha256_of


@dataclass(frozen=True)
class TrainingConfig:
    n_objects: int = 50
    image_size: int = 64
    field_deg: float = 120.0
    seed: int = 0
    epochs: int = 18
    epoch_images: int = 10_000
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    held_out_images: int = 1000
    calibration_images: int = 2000
    threads: int = 2


def _stream(config: TrainingConfig):
    from ..stimuli import Camera, TrainingStream

    return TrainingStream(config.n_objects, camera=Camera(config.image_size, config.field_deg),
                          seed=config.seed, epoch_images=config.epoch_images)


class _Epochs(torch.utils.data.IterableDataset):
    """Batches of epochs ``0..epochs-1`` of the stream, rendered in a worker process."""

    def __init__(self, config: TrainingConfig):
        self.config = config

    def __iter__(self):
        stream = _stream(self.config)
        for epoch in range(self.config.epochs):
            for images, labels in stream.batches(epoch, self.config.batch_size):
                yield torch.from_numpy(images)[:, None], torch.from_numpy(labels)


def held_out_set(config: TrainingConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed views of the training objects that no training epoch draws."""
    images, labels = _stream(config).held_out(config.held_out_images)
    return torch.from_numpy(images)[:, None], torch.from_numpy(labels)


def calibration_set(config: TrainingConfig) -> torch.Tensor:
    """Fixed training-distribution images (their own stream) for batch-norm statistics."""
    stream = _stream(replace(config, epoch_images=config.calibration_images))
    images = np.stack([image for image, _ in stream.epoch(0, stream=2)])
    return torch.from_numpy(images)[:, None]


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, images: torch.Tensor, batch_size: int = 250) -> None:
    """Replace every batch-norm layer's running statistics by their exact average over
    ``images`` under the current weights.

    The exponential running averages lag behind weights that change quickly (large learning
    rates early in training), which made eval-mode accuracy swing between chance and the
    training accuracy; exact statistics remove that lag.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for start in range(0, len(images), batch_size):
        model(images[start:start + batch_size])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 250) -> float:
    """Top-1 accuracy of ``model`` (switched to eval mode) on ``images (N, 1, H, W)``."""
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start:start + batch_size])
        correct += int((logits.argmax(dim=1) == labels[start:start + batch_size]).sum())
    return correct / len(images)


def train_embedded(config: TrainingConfig = TrainingConfig(), *, out_dir=None,
                   progress: bool = True) -> tuple[EmbeddedCNN, dict]:
    """Train the embedded CNN; return it with its record (and write both to ``out_dir``)."""
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = EmbeddedCNN(n_classes=config.n_objects)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = -(-config.epoch_images // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch)
    held_images, held_labels = held_out_set(config)
    calibration = calibration_set(config)
    loader = torch.utils.data.DataLoader(_Epochs(config), batch_size=None, num_workers=1,
                                         prefetch_factor=16, persistent_workers=False)
    history = []
    started = time.perf_counter()
    seen, running_loss = 0, 0.0
    for step, (images, labels) in enumerate(loader, start=1):
        model.train()
        optimiser.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimiser.step()
        schedule.step()
        seen += len(labels)
        running_loss += loss.item() * len(labels)
        if step % steps_per_epoch == 0:
            epoch = step // steps_per_epoch
            recalibrate_batch_norm(model, calibration)
            entry = {"epoch": epoch, "images_seen": seen,
                     "train_loss": running_loss / config.epoch_images,
                     "held_out_accuracy": accuracy(model, held_images, held_labels),
                     "seconds": time.perf_counter() - started}
            history.append(entry)
            running_loss = 0.0
            if progress:
                print(f"epoch {epoch}/{config.epochs}: loss {entry['train_loss']:.3f}, held-out "
                      f"top-1 {entry['held_out_accuracy']:.3f}, {entry['seconds']:.0f} s",
                      flush=True)
    recalibrate_batch_norm(model, calibration)
    elapsed = time.perf_counter() - started
    record = {
        "architecture": model.architecture,
        "training_config": asdict(config),
        "seed": config.seed,
        "held_out_accuracy": accuracy(model, held_images, held_labels),
        "held_out_images": config.held_out_images,
        "training_seconds": round(elapsed, 1),
        "images_seen": seen,
        "images_per_second": round(seen / elapsed, 1),
        "history": history,
        "torch": torch.__version__,
        "cpu_threads": config.threads,
    }
    if out_dir is not None:
        save_trained(model, record, Path(out_dir))
    return model, record


def save_trained(model: nn.Module, record: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``embedded_cnn.pt`` (state dict) and ``embedded_cnn.json`` (record + sha256),
    atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / "embedded_cnn.pt"
    with atomic_path(weights) as tmp:
        torch.save(model.state_dict(), tmp)
    record = {**record, "weights_file": weights.name, "sha256": sha256_of(weights)}
    meta = write_text(out_dir / "embedded_cnn.json", json.dumps(record, indent=2) + "\n")
    return weights, meta


def recorded_config(record_path: Path) -> TrainingConfig:
    """The training config stored in a record JSON, to reproduce a model."""
    return TrainingConfig(**json.loads(Path(record_path).read_text())["training_config"])
