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
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import run_cases  # noqa: E402

CASES = {
    "embedded-trained": ("embedded", "trained", 64),
    "embedded-untrained": ("embedded", "untrained:0", 64),
    "vgg16-untrained": ("vgg16", "untrained:0", 224),
}
BATCH = 32


def case(name: str) -> None:
    import torch

    from prunedistill.activations import extract_to_store, resolve_device
    from prunedistill.models import load_model
    from prunedistill.stimuli import tafazoli

    model_name, weights, size = CASES[name]
    torch.set_num_threads(os.cpu_count())
    model = load_model(model_name, weights)
    stimuli = tafazoli(size)
    images = stimuli["images"].values
    device = resolve_device(None)
    module = model.module.to(device)
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(images), BATCH):
            module(model.preprocessing(images[first:first + BATCH]).to(device))
    if device == "cuda":
        torch.cuda.synchronize()
    forward = time.perf_counter() - start
    out = Path(tempfile.mkdtemp()) / "act.zarr"
    start = time.perf_counter()
    extract_to_store(model, stimuli, "checkpoints", out, batch_size=BATCH, device=device)
    extraction = time.perf_counter() - start
    stored = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    shutil.rmtree(out.parent)
    print(json.dumps({"forward_s": forward, "extraction_s": extraction,
                      "stored_mib": stored / 2**20, "device": device}))


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
