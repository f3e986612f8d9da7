"""Rendering speed of the stimulus sets.

Usage: python benchmarks/bench_stimuli.py
Output is recorded in benchmarks/results/stimuli.txt.
"""

from __future__ import annotations

import os
import time

from prunedistill.stimuli import Camera, TrainingStream, bars, tafazoli


def timed(label: str, make) -> None:
    start = time.perf_counter()
    result = make()
    elapsed = time.perf_counter() - start
    n = result.sizes["stimulus"]
    print(f"{label}: {n} images in {elapsed:.2f} s ({elapsed / n * 1e3:.1f} ms per image)")


def main() -> None:
    print(f"machine: {os.cpu_count()} cores; pybullet ER_TINY_RENDERER, 2x2 supersampling")
    for size in (64, 128, 224):
        timed(f"tafazoli 10 x 38 at {size} px", lambda size=size: tafazoli(size))
    timed("bars 6 x 11 cells x 4 orientations x 5 phases at 128 px", lambda: bars(128))
    stream = TrainingStream(50, camera=Camera(64), epoch_images=2000)
    timed("training stream, 2,000 images at 64 px", lambda: stream.as_dataset(0))


if __name__ == "__main__":
    main()
