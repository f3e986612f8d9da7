"""Per-layer reformatting analysis: time and peak RSS beside the network's forward pass.

Usage: python benchmarks/bench_analysis.py
Output is recorded in benchmarks/results/analysis.txt.

Each case runs in a fresh process on the 380 tafazoli stimuli, every ``checkpoints`` layer,
2,000 units per layer (or all units of a smaller layer), PT + 100 shuffles:

1. the bare forward pass over the stimuli;
2. extraction of the unit subsets (``keep_full=False``);
3. receptive fields by bar mapping: the bar frames through the network (one pass serves every
   unit), a response map per unit and a Gaussian fit;
4. the information analysis (``analyse_layer``) of every layer.

Steps 1, 3 and 4 are timed separately; the target is step 4 <= 25 % of step 1 for VGG16.
For VGG16 the bars use one frame per drift (264 images) to keep the run short.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import run_cases  # noqa: E402

CASES = {
    "embedded-trained": ("embedded", "trained", 64, 5),
    "embedded-untrained": ("embedded", "untrained:0", 64, 5),
    "vgg16-untrained": ("vgg16", "untrained:0", 224, 1),
}
BATCH = 32


def case(name: str) -> None:
    import torch

    from prunedistill.activations import ActivationStore, LayerTap, extract_to_store, resolve_layers
    from prunedistill.analysis import InformationOptions, analyse_layer
    from prunedistill.analysis.receptive_fields import (
        bar_response_maps,
        fit_gaussian,
        localised_rf_maps,
    )
    from prunedistill.models import load_model
    from prunedistill.stimuli import bars, tafazoli
    from prunedistill.stimuli.properties import orientation_energy

    model_name, weights, size, phases = CASES[name]
    torch.set_num_threads(os.cpu_count())
    model = load_model(model_name, weights)
    stimuli = tafazoli(size)
    bar_set = bars(size, phases=phases)
    images = stimuli["images"].values
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(images), BATCH):
            model.module(model.preprocessing(images[first:first + BATCH]))
    forward = time.perf_counter() - start

    out = Path(tempfile.mkdtemp()) / "act.zarr"
    start = time.perf_counter()
    store = ActivationStore(extract_to_store(model, stimuli, "checkpoints", out,
                                             batch_size=BATCH, keep_full=False))
    extraction = time.perf_counter() - start

    start = time.perf_counter()
    subsets = {layer: store.subset(layer) for layer in store.layers}
    tap = LayerTap(model, resolve_layers(model, store.layers))
    bar_images = bar_set["images"].values
    bar_responses = {layer: [] for layer in store.layers}
    for first in range(0, len(bar_images), BATCH):
        outputs = tap(bar_images[first:first + BATCH])
        for layer, rows in outputs.items():
            bar_responses[layer].append(rows.numpy()[:, subsets[layer].unit.values])
    tap.close()
    fits, n_good = {}, 0
    for layer in store.layers:
        maps, azimuth, elevation = bar_response_maps(
            np.concatenate(bar_responses[layer]).T, bar_set)
        fits[layer] = fit_gaussian(maps, azimuth, elevation)
        n_good += int(fits[layer].good.sum())
    receptive_fields = time.perf_counter() - start

    start = time.perf_counter()
    n_units, finite = 0, 0
    # The 4-threshold sweep the recorded results used (the study default has 10).
    config = InformationOptions(shuffles=100, invariance_sweep=(0.0, 0.3, 0.6, 0.9))
    energy = orientation_energy(images, stimuli.attrs["deg_per_pixel"])
    for layer in store.layers:
        # As the pipeline does: the fitted Gaussian where the fit is good, else the full field.
        rf_maps = localised_rf_maps(fits[layer], stimuli["x"].values, stimuli["y"].values)
        table = analyse_layer(subsets[layer].values.T, stimuli, rf_maps, config,
                              energy_maps=energy)
        n_units += table.sizes["unit"]
        finite += int(np.isfinite(table["I_L"].values).sum())
    analysis = time.perf_counter() - start
    shutil.rmtree(out.parent)
    print(json.dumps({"forward_s": forward, "extraction_s": extraction,
                      "receptive_fields_s": receptive_fields, "analysis_s": analysis,
                      "layers": len(store.layers), "units": n_units, "finite_units": finite,
                      "good_rf_fits": n_good, "bar_images": len(bar_images)}))


def describe(name: str, r: dict) -> str:
    return (f"{name}: {r['layers']} layers, {r['units']} units ({r['finite_units']} with "
            f"finite I(R;L), {r['good_rf_fits']} RF fits with R^2 > 0.5); forward "
            f"{r['forward_s']:.1f} s; extraction {r['extraction_s']:.1f} s; RF mapping "
            f"({r['bar_images']} bar images) {r['receptive_fields_s']:.1f} s; information "
            f"analysis {r['analysis_s']:.1f} s ({r['analysis_s'] / r['forward_s']:.2f}x "
            f"forward); peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB")


def main() -> None:
    run_cases(__file__, CASES, case, "380 tafazoli stimuli, 'checkpoints' layers, up to "
              "2,000 units per layer, PT + 100 shuffles", describe)


if __name__ == "__main__":
    main()
