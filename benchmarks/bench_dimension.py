"""TwoNN speed and memory: prunedistill vs scikit-dimension, and the chunked wide-layer path.

Usage: python benchmarks/bench_dimension.py [--skip-slow]
Each case runs in its own process (a first call, as a one-off user meets it); peak RSS is
that process's, imports included. One more process times both libraries warm, alternating.
Output is recorded in benchmarks/results/dimension.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _measure import baseline_rss_mib, run_case  # noqa: E402

WIDE_POINTS, WIDE_FEATURES, WIDE_CHUNK = 380, 3_211_264, 65_536
REPEATS = 5


def layer_like(n: int, features: int, seed: int = 0) -> np.ndarray:
    """A ReLU representation of an 8-dimensional latent, float32 ``(n, features)``."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 8))
    weights = rng.standard_normal((8, features)) / np.sqrt(8)
    return np.maximum(latent @ weights + 0.3, 0).astype(np.float32)


def wide_chunks(seed: int = 0):
    """Chunks of a 380 x 3,211,264 float32 layer, generated on the fly, never whole."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((WIDE_POINTS, 8))
    for start in range(0, WIDE_FEATURES, WIDE_CHUNK):
        width = min(WIDE_CHUNK, WIDE_FEATURES - start)
        weights = rng.standard_normal((8, width)) / np.sqrt(8)
        yield np.maximum(latent @ weights + 0.3, 0).astype(np.float32)


def case(name: str, n: int) -> dict:
    if name == "ours":
        from prunedistill.dimension import twonn

        x = layer_like(n, 1000)
        start = time.perf_counter()
        estimate = twonn(x, device="cpu").dimension
        return {"seconds": time.perf_counter() - start, "id": estimate}
    if name == "skdim":
        from skdim.id import TwoNN

        x = layer_like(n, 1000).astype(np.float64)
        start = time.perf_counter()
        estimate = TwoNN().fit(x).dimension_
        return {"seconds": time.perf_counter() - start, "id": estimate}
    if name == "repeated":
        from skdim.id import TwoNN

        from prunedistill.dimension import twonn

        x = layer_like(n, 1000)
        x64 = x.astype(np.float64)
        seconds = {"ours": [], "skdim": []}
        for _ in range(REPEATS):  # alternating, so drifts of the machine hit both alike
            start = time.perf_counter()
            twonn(x, device="cpu")
            seconds["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
            TwoNN().fit(x64)
            seconds["skdim"].append(time.perf_counter() - start)
        return {who: float(np.median(s)) for who, s in seconds.items()}
    if name == "wide":
        from prunedistill.dimension import twonn
        from prunedistill.distances import GramAccumulator

        accumulate = 0.0
        accumulator = GramAccumulator(WIDE_POINTS, device="cpu")
        start = time.perf_counter()
        for chunk in wide_chunks():
            t = time.perf_counter()
            accumulator.update(chunk)
            accumulate += time.perf_counter() - t
        t = time.perf_counter()
        estimate = twonn(distances=accumulator.distance_matrix()).dimension
        accumulate += time.perf_counter() - t
        total = time.perf_counter() - start
        return {"seconds": accumulate, "seconds_with_generation": total, "id": estimate}
    raise ValueError(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--skip-slow", action="store_true", help="skip scikit-dimension at N=20000")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(args.case, args.n)))
        return

    script = os.path.abspath(__file__)
    print(f"machine: {os.cpu_count()} cores; numpy {np.__version__}")
    torch_rss = baseline_rss_mib("torch")
    print(f"peak RSS of a process that only imports torch: {torch_rss:.0f} MiB")
    print()
    print(f"{'case':<44}{'time (s)':>10}{'peak RSS (MiB)':>16}{'ID':>10}")
    rows = []
    for n in (5000, 20000):
        for who in ("skdim", "ours"):
            if who == "skdim" and n == 20000 and args.skip_slow:
                continue
            r = run_case(script, who, "--n", str(n))
            library = "scikit-dimension" if who == "skdim" else "prunedistill"
            label = f"TwoNN N={n} D=1000, {library}"
            print(f"{label:<44}{r['seconds']:>10.2f}{r['peak_rss_mib']:>16.0f}{r['id']:>10.4f}",
                  flush=True)
            rows.append((n, who, r))
    for n in (5000, 20000):
        pair = {who: r for m, who, r in rows if m == n}
        if len(pair) == 2:
            print(f"N={n}: speed-up {pair['skdim']['seconds'] / pair['ours']['seconds']:.1f}x, "
                  f"|ID difference| {abs(pair['skdim']['id'] - pair['ours']['id']):.1e}")
    r = run_case(script, "repeated", "--n", "5000")
    print(f"N=5000, median of {REPEATS} calls in one warm process (alternating): "
          f"scikit-dimension {r['skdim']:.3f} s, prunedistill {r['ours']:.3f} s, "
          f"speed-up {r['skdim'] / r['ours']:.1f}x")
    r = run_case(script, "wide")
    print(f"{'chunked 380 x 3,211,264 float32 (64k chunks)':<44}{r['seconds']:>10.2f}"
          f"{r['peak_rss_mib']:>16.0f}{r['id']:>10.4f}")
    print(f"  (Gram accumulation + TwoNN; generating the chunks took a further "
          f"{r['seconds_with_generation'] - r['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
