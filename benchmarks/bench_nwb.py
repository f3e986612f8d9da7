"""Reading a large NWB file: 1,000 units x 10,000 presentations, time and peak RSS beside a
process that only imports the reader, and beside the presentations x spikes matrix the
previous latency code built per unit.

Writes a synthetic file (2 Hz Poisson units with a 30 Hz response 60 ms after each onset,
four areas in electrodes.location, a named interval table with a bytes stimulus column) to
a temporary folder, then reads it in a fresh process. Output is recorded in
benchmarks/results/nwb.txt.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import baseline_rss_mib, run_case  # noqa: E402

N_UNITS, N_PRESENTATIONS, N_STIMULI, GAP_S = 1000, 10_000, 200, 0.6


def write_file(path: Path) -> tuple[float, int]:
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    nwb = NWBFile(session_description="benchmark", identifier="bench",
                  session_start_time=datetime(2026, 1, 1, tzinfo=UTC))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank", "a shank", "brain", device)
    for area in ("V1", "LM", "LI", "LL"):
        nwb.add_electrode(group=group, location=area)
    onsets = 1.0 + np.arange(N_PRESENTATIONS) * GAP_S
    table = TimeIntervals(name="images", description="image presentations")
    table.add_column("image", "image file")
    names = [f"img{i:03d}.png".encode() for i in rng.integers(0, N_STIMULI, N_PRESENTATIONS)]
    for onset, name in zip(onsets, names):
        table.add_row(start_time=onset, stop_time=onset + 0.3, image=name)
    nwb.add_time_intervals(table)
    end = onsets[-1] + 1.0
    total = 0
    for u in range(N_UNITS):
        background = rng.uniform(0, end, rng.poisson(2.0 * end))
        responding = onsets[rng.random(N_PRESENTATIONS) < 0.3] + 0.06 + \
            rng.uniform(0, 0.1, 1)[0]
        spikes = np.sort(np.r_[background, responding])
        total += len(spikes)
        nwb.add_unit(spike_times=spikes, electrodes=[u % 4])
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return time.perf_counter() - started, total


def case(name: str) -> None:
    from prunedistill.neural.io import load_responses
    from prunedistill.neural.nwb import NWBOptions

    path = Path(sys.argv[sys.argv.index("--file") + 1])
    if name == "write":
        written, spikes = write_file(path)
        print(json.dumps({"seconds": written, "spikes": spikes}))
        return
    started = time.perf_counter()
    ds = load_responses(path, nwb=NWBOptions(intervals="images", stimulus_column="image"))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "shape": dict(ds.sizes),
                      "significant": int(ds["latency_significant"].values.sum()),
                      "median_latency_ms": float(np.median(ds["latency_ms"].values))}))


def main() -> None:
    if "--case" in sys.argv:
        case(sys.argv[sys.argv.index("--case") + 1])
        return
    import os

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.nwb"
        # Written in its own process: a reader forked from a parent holding 15 M spike
        # times would report the parent's RSS as its own peak.
        made = run_case(__file__, "write", "--file", str(path))
        written, spikes = made["seconds"], made["spikes"]
        size = path.stat().st_size / 2**20
        print(f"machine: {os.cpu_count()} cores; synthetic NWB: {N_UNITS} units, "
              f"{N_PRESENTATIONS} presentations of {N_STIMULI} images, {spikes:,} spikes, "
              f"{size:.0f} MiB (written in {written:.0f} s)")
        result = run_case(__file__, "read", "--file", str(path))
        base = baseline_rss_mib("prunedistill.neural.io,prunedistill.neural.nwb,pynwb")
        per_unit = spikes / N_UNITS
        old = N_PRESENTATIONS * per_unit * 8 / 2**20
        print(f"read + latencies + counts: {result['seconds']:.1f} s, peak RSS "
              f"{result['peak_rss_mib']:.0f} MiB; a process that only imports the reader: "
              f"{base:.0f} MiB -> {result['peak_rss_mib'] - base:.0f} MiB for the data")
        print(f"reference: the previous latency code's presentations x spikes matrix, per "
              f"unit: {old:.0f} MiB")
        print(f"result: {result['shape']}, {result['significant']} of {N_UNITS} units with a "
              f"significant response, median latency {result['median_latency_ms']:.0f} ms "
              f"(planted 60-160 ms)")


if __name__ == "__main__":
    main()
