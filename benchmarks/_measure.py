"""Run one benchmark case in a fresh Python process and report its time and peak RSS."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable


def run_case(script: str, case: str, *args: str) -> dict:
    """Run ``python script --case case args`` and return its JSON line plus peak RSS (MiB).

    The child prints one JSON object on its last stdout line. Peak RSS comes
    from wait4, so it counts that process alone, imports included.
    """
    proc = subprocess.Popen(
        [sys.executable, script, "--case", case, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"case {case} failed with status {status}:\n{out}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def baseline_rss_mib(modules: str) -> float:
    """Peak RSS of a process that only imports ``modules`` (comma separated)."""
    code = f"import {modules}"
    proc = subprocess.Popen([sys.executable, "-c", code])
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss / 1024


def run_cases(script: str, cases: Iterable[str], case: Callable[[str], None], header: str,
              describe: Callable[[str, dict], str]) -> None:
    """The driver of a case-based benchmark: with ``--case NAME`` run that case here (it
    prints its JSON line); without, print ``header`` and run every case in its own process,
    printing ``describe(name, result)`` for each."""
    cases = list(cases)
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=cases)
    args = parser.parse_args()
    if args.case:
        from prunedistill._memory import retain_freed_memory

        retain_freed_memory()  # as the CLI does (PRUNEDISTILL_RETAIN_FREED_MEMORY=0: off)
        case(args.case)
        return
    print(f"machine: {os.cpu_count()} cores; {header}")
    for name in cases:
        print(describe(name, run_case(script, name)), flush=True)


def forward_and_extraction(model, stimuli, batch: int) -> dict:
    """Seconds of the bare forward pass of ``stimuli`` (same batches and preprocessing, no
    hooks) and of ``extract_to_store`` of the ``checkpoints`` layers, with the store's size
    (MiB) and the device, for one model in this process."""
    import shutil
    import tempfile
    import time
    from pathlib import Path

    import torch

    from prunedistill.activations import extract_to_store, resolve_device

    images = stimuli["images"].values
    device = resolve_device(None)
    module = model.module.to(device)
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(images), batch):
            module(model.preprocessing(images[first:first + batch]).to(device))
    if device == "cuda":
        torch.cuda.synchronize()
    forward = time.perf_counter() - start
    out = Path(tempfile.mkdtemp()) / "act.zarr"
    start = time.perf_counter()
    extract_to_store(model, stimuli, "checkpoints", out, batch_size=batch, device=device)
    extraction = time.perf_counter() - start
    stored = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    shutil.rmtree(out.parent)
    return {"forward_s": forward, "extraction_s": extraction, "stored_mib": stored / 2**20,
            "device": device}
