"""How many bar frames per drift does RF mapping need? Fitted RF centres with 1, 2 and 3
frames per drift against the default 5 (1,320 frames at 64 px), on trained and untrained
embedded CNNs, 500 units of each checkpoint layer; the criterion is a centre within a tenth
of a grid cell (1 deg) of the 5-frame fit. Timing: bar frames through the network plus the
fits, each frame count in the same run.

Usage: python benchmarks/bench_rf_frames.py
Output is recorded in benchmarks/results/rf_frames.txt.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from prunedistill.activations import LayerTap, resolve_layers, subset_units
from prunedistill.analysis.receptive_fields import bar_response_maps, fit_gaussian
from prunedistill.models import load_model
from prunedistill.stimuli import bars

LAYERS = ["features.pool1", "features.pool2", "features.pool3", "features.pool4",
          "features.avgpool", "classifier.fc1", "classifier.fc2"]
PHASES = (1, 2, 3, 5)
CELL_TENTH_DEG = 1.0  # the grid's cells are 10 deg


def fits_of(model, bar_set) -> dict:
    tap = LayerTap(model, resolve_layers(model, LAYERS))
    responses = {layer: [] for layer in LAYERS}
    images = bar_set["images"].values
    for start in range(0, len(images), 32):
        for layer, rows in tap(images[start:start + 32]).items():
            units = subset_units(layer, rows.shape[1], 500, 0)
            responses[layer].append(rows.numpy()[:, units])
    tap.close()
    fits = {}
    for layer in LAYERS:
        maps, azimuth, elevation = bar_response_maps(np.concatenate(responses[layer]).T, bar_set)
        fits[layer] = fit_gaussian(maps, azimuth, elevation)
    return fits


def main() -> None:
    torch.set_num_threads(os.cpu_count())
    sets = {p: bars(64, phases=p) for p in PHASES}
    print(f"machine: {os.cpu_count()} cores; bar frames per phase count: "
          + ", ".join(f"{p}: {s.sizes['stimulus']}" for p, s in sets.items()))
    for weights in ("trained:0", "trained:1", "untrained:0"):
        model = load_model("embedded", weights)
        fits, seconds = {}, {}
        for p, bar_set in sets.items():
            start = time.perf_counter()
            fits[p] = fits_of(model, bar_set)
            seconds[p] = time.perf_counter() - start
        for p in PHASES[:-1]:
            shifts, n_good = [], 0
            for layer in LAYERS:
                a, b = fits[PHASES[-1]][layer], fits[p][layer]
                good = a.good & b.good
                shifts.append(np.hypot(a.centre_x_deg[good] - b.centre_x_deg[good],
                                       a.centre_y_deg[good] - b.centre_y_deg[good]))
                n_good += int(good.sum())
            d = np.concatenate(shifts)
            print(f"{weights}: {p} vs {PHASES[-1]} frames per drift: {n_good} units fitted in "
                  f"both; centre shift median {np.median(d):.2f} deg, 95th percentile "
                  f"{np.percentile(d, 95):.2f} deg; within a tenth of a cell "
                  f"{100 * np.mean(d <= CELL_TENTH_DEG):.0f} %; {seconds[p]:.1f} s vs "
                  f"{seconds[PHASES[-1]]:.1f} s")


if __name__ == "__main__":
    main()
