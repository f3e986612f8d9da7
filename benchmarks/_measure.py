"""Run one benchmark case in a fresh Python process and report its time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys


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
