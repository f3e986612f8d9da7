"""Extraction through real ImageNet-trained networks, in colour at 224 px, against their bare
forward pass in the same process.

Usage: python benchmarks/bench_real_extraction.py
Output is recorded in benchmarks/results/real_extraction.txt.

The 380 tafazoli stimuli are rendered at 224 px and tinted, one hue per object, so that the
input is a true colour set (``images (380, 3, 224, 224)``) that goes through the colour path:
``from_arrays`` -> the network's preprocessing -> ``extract_to_store`` of the ``checkpoints``
layers (every unit written to zarr, the 2,000-unit subset, the exact Gram matrix of every
layer). The bare forward pass runs the same batches through the same preprocessing with no
hooks. Each case runs in a fresh process; peak RSS is that of the whole process. The
MobileNetV2 case needs ``../shared/reference/weights`` (skipped with a note when absent).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import forward_and_extraction, run_cases  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "weights" / \
    "mobilenet_v2_imagenet.pth"
CASES = {
    "mobilenet_v2-imagenet": ("mobilenet_v2", str(SHARED)),
    "efficientnet_lite0-imagenet": ("efficientnet_lite0", "trained"),
}
BATCH = 32
HUES = [(1.0, 0.3, 0.3), (0.3, 1.0, 0.3), (0.3, 0.3, 1.0), (1.0, 1.0, 0.3), (1.0, 0.3, 1.0),
        (0.3, 1.0, 1.0), (1.0, 0.6, 0.2), (0.6, 0.2, 1.0), (0.2, 0.6, 0.4), (0.9, 0.9, 0.9)]


def case(name: str) -> None:
    import numpy as np
    import pandas as pd
    import torch

    from prunedistill.models import load_model
    from prunedistill.stimuli import from_arrays, tafazoli

    model_name, weights = CASES[name]
    if name.startswith("mobilenet") and not SHARED.is_file():
        print(json.dumps({"skipped": f"{SHARED} is absent"}))
        return
    torch.set_num_threads(os.cpu_count())
    model = load_model(model_name, weights)
    gray = tafazoli(224)
    hues = np.asarray(HUES, dtype=np.float32)[gray["object_index"].values]
    colour = gray["images"].values[:, None] * hues[:, :, None, None]
    metadata = pd.DataFrame({"object": gray["object"].values, "view": gray["view"].values})
    stimuli = from_arrays(colour, metadata, size=224)
    result = forward_and_extraction(model, stimuli, BATCH)
    print(json.dumps({**result, "input": list(stimuli["images"].shape)}))


def describe(name: str, r: dict) -> str:
    if "skipped" in r:
        return f"{name}: skipped ({r['skipped']})"
    return (f"{name}: input {tuple(r['input'])}; bare forward {r['forward_s']:.1f} s; "
            f"extraction + storage {r['extraction_s']:.1f} s "
            f"({r['extraction_s'] / r['forward_s']:.2f}x); stored {r['stored_mib']:.0f} MiB; "
            f"peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB ({r['device']})")


def main() -> None:
    run_cases(__file__, CASES, case, "380 tafazoli stimuli tinted per object (colour, 224 "
              f"px), 'checkpoints' layers, batch {BATCH}", describe)


if __name__ == "__main__":
    main()
