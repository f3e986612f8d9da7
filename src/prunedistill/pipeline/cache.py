"""Content-keyed, atomic stage outputs: ``ROOT/STAGE/KEY/``.

A key hashes everything an output depends on (its config section, the keys of its inputs,
weights hashes, the package version). An entry exists only once complete: it is written to
``KEY.partial`` and renamed, so a run killed at any point leaves either a whole entry or a
partial folder that the next run deletes and rewrites.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from contextlib import contextmanager
from pathlib import Path

from .. import __version__


def stage_key(stage: str, **parts) -> str:
    """16 hex digits of the SHA-256 of the stage name, the package version and ``parts``
    (JSON with sorted keys)."""
    payload = json.dumps({"stage": stage, "version": __version__, **parts}, sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class StageMissing(RuntimeError):
    """A stage output that a read-only run needed but that was never computed."""


class Cache:
    """Stage outputs under ``root``. A ``read_only`` cache refuses to compute any stage
    except those listed in ``writable`` (the report command builds only the report)."""

    def __init__(self, root, *, read_only: bool = False, writable: tuple[str, ...] = ()):
        self.root = Path(root)
        self.read_only = read_only
        self.writable = writable

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def has(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_dir()

    @contextmanager
    def writing(self, stage: str, key: str, manifest: dict | None = None):
        """Yield an empty folder to fill; it becomes the entry when the block completes.
        On any error the folder is deleted and nothing is published."""
        if self.read_only and stage not in self.writable:
            raise StageMissing(f"stage {stage!r} (key {key}) has not been computed for this "
                               "config; run `prunedistill run CONFIG` (or `analyse`) first.")
        final = self.path(stage, key)
        tmp = final.with_name(final.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        try:
            if manifest is not None:
                (tmp / "manifest.json").write_text(
                    json.dumps(manifest, indent=1, sort_keys=True, default=str))
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
