"""What a run tells its user and records about itself: one line per stage with its time,
and the software environment."""

from __future__ import annotations

import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version

from .. import __version__

RECORDED_PACKAGES = ("numpy", "scipy", "torch", "torchvision", "xarray", "zarr", "pandas",
                     "scikit-learn", "pybullet", "matplotlib", "pydantic")


class StageLog:
    """One line per stage with its time; the times go into the run metadata."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self.lines: list[str] = []

    def done(self, stage: str, summary: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds
        line = f"[{stage}] {summary} ({seconds:.1f} s)"
        self.lines.append(line)
        if not self.quiet:
            print(line, flush=True)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)


def environment() -> dict:
    """Versions of Python, the platform and the packages that shape the results."""
    import torch

    packages = {}
    for name in RECORDED_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"prunedistill": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
            "packages": packages}
