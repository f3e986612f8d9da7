"""Content-keyed, atomic, checksummed stage outputs: ``ROOT/STAGE/KEY/``.

A key hashes everything an output depends on (its config section, the keys of its inputs,
weights hashes, the package version). An entry exists only once complete: it is written
under a temporary name unique to its writer and renamed (:mod:`prunedistill._io`), so a run
killed at any point leaves either a whole entry or a temporary folder that is never read.
Every entry lists the size and BLAKE2b digest of each of its files (``checksums.json``); an
entry is verified the first time a process uses it, and a damaged one (a flipped bit, a
truncated or missing file) is discarded with a one-line notice and recomputed, never read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from .._io import atomic_path, partial_name, remove_path
from .._validation import PrunedistillError

# The files of each stage's entry, named once for the writer and every reader.
STIMULI_STORE = "stimuli.zarr"
ENERGY_MAPS = "energy.npy"
BARS_STORE = "bars.zarr"
POINTS_STORE = "points.zarr"
ACTIVATIONS_STORE = "activations.zarr"
NETWORK_RECORD = "network.json"
SIMILARITY_TABLE = "similarity.parquet"
DATASET_RECORD = "dataset.json"
CHECKSUMS = "checksums.json"
_VERIFIED: set[Path] = set()  # entries this process has checked


def file_digest(path: Path) -> str:
    """BLAKE2b (16 bytes) of a file's bytes, hex."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def checksums(folder: Path) -> dict[str, list]:
    """``{relative path: [size, digest]}`` of every file under ``folder`` (sorted)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != CHECKSUMS)
    return {str(p.relative_to(folder)): [p.stat().st_size, file_digest(p)] for p in files}


def damage(folder: Path) -> str | None:
    """What is wrong with an entry's files, or None when every file matches its record."""
    record = folder / CHECKSUMS
    if not record.is_file():
        return f"no {CHECKSUMS}"
    try:
        expected = json.loads(record.read_text())
    except json.JSONDecodeError:
        return f"{CHECKSUMS} is unreadable"
    for name, (size, digest) in expected.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} were written"
        if file_digest(path) != digest:
            return f"{name} does not match its checksum"
    return None


def plain(value):
    """JSON-able data from options: dataclasses as dicts, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def stage_key(stage: str, **parts) -> str:
    """16 hex digits of the SHA-256 of the stage name, the package version and ``parts``
    (JSON with sorted keys; option dataclasses by their fields)."""
    payload = json.dumps({"stage": stage, "version": __version__, **plain(parts)},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class StageMissing(PrunedistillError):
    """A stage output that a read-only run needed but that was never computed."""


@dataclass(frozen=True)
class Entry:
    """One cache entry: its key and its folder."""

    key: str
    path: Path


class Cache:
    """Stage outputs under ``root``. A ``read_only`` cache refuses to compute any stage
    except those listed in ``writable`` (the report command builds only the report)."""

    def __init__(self, root, *, read_only: bool = False, writable: tuple[str, ...] = ()):
        self.root = Path(root)
        self.read_only = read_only
        self.writable = writable

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def entry(self, stage: str, key: str) -> Entry:
        return Entry(key, self.path(stage, key))

    def has(self, stage: str, key: str) -> bool:
        """Whether the entry exists and is intact (checked once per process); a damaged
        entry is removed, with a notice on stderr, so that it is recomputed."""
        path = self.path(stage, key)
        if not path.is_dir():
            return False
        if path in _VERIFIED:
            return True
        problem = damage(path)
        if problem is None:
            _VERIFIED.add(path)
            return True
        print(f"[cache] {stage}/{key} is damaged ({problem}); recomputing it.",
              file=sys.stderr, flush=True)
        aside = partial_name(path)
        try:
            path.rename(aside)  # gone at once for every reader, then deleted
        except OSError:
            return False  # another process got there first
        remove_path(aside)
        return False

    @contextmanager
    def writing(self, stage: str, key: str, manifest: dict | None = None) -> Iterator[Path]:
        """Yield an empty folder to fill; it becomes the entry when the block completes.
        On any error the folder is deleted and nothing is published."""
        if self.read_only and stage not in self.writable:
            raise StageMissing(f"stage {stage!r} (key {key}) has not been computed for this "
                               "config; run `prunedistill run CONFIG` (or `analyse`) first.")
        with atomic_path(self.path(stage, key), folder=True, replace=False) as tmp:
            if manifest is not None:
                (tmp / "manifest.json").write_text(
                    json.dumps(plain(manifest), indent=1, sort_keys=True, default=str))
            yield tmp
            (tmp / CHECKSUMS).write_text(json.dumps(checksums(tmp), indent=0))
