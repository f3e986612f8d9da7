"""Extraction time and peak RSS against the bare forward pass of the same model.

Usage: python benchmarks/bench_extraction.py
Output is recorded in benchmarks/results/extraction.txt.

Each case runs in a fresh process on the 380 tafazoli stimuli (rendered at the model's input
size before timing): first the bare forward pass over all stimuli (same batches, no hooks),
then ``extract_to_store`` of the ``checkpoints`` layers (every unit written to zarr, the
2,000-unit subset and the exact Gram matrix of every layer). Peak RSS is that of the whole
process (imports, model, stimuli, both passes).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import forward_and_extraction, run_cases  # noqa: E402

CASES = {
    "embedded-trained": ("embedded", "trained", 64),
    "embedded-untrained": ("embedded", "untrained:0", 64),
    "vgg16-untrained": ("vgg16", "untrained:0", 224),
}
BATCH = 32


def case(name: str) -> None:
    import torch

    from prunedistill.models import load_model
    from prunedistill.stimuli import tafazoli

    model_name, weights, size = CASES[name]
    torch.set_num_threads(os.cpu_count())
    model = load_model(model_name, weights)
    stimuli = tafazoli(size)
    print(json.dumps(forward_and_extraction(model, stimuli, BATCH)))


def describe(name: str, r: dict) -> str:
    return (f"{name}: bare forward {r['forward_s']:.1f} s; extraction + storage "
            f"{r['extraction_s']:.1f} s ({r['extraction_s'] / r['forward_s']:.2f}x); "
            f"stored {r['stored_mib']:.0f} MiB; peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB "
            f"({r['device']})")


def main() -> None:
    run_cases(__file__, CASES, case, f"380 tafazoli stimuli, 'checkpoints' layers, batch "
              f"{BATCH}", describe)


if __name__ == "__main__":
    main()
