"""retain_freed_memory: with it, a freed 256 MiB array stays in the process (the next one
reuses its pages); without it glibc unmaps the block on free. Checked in fresh processes,
so the setting of this test process does not matter."""

import os
import platform
import subprocess
import sys

import pytest

from prunedistill._memory import ENVIRONMENT_VARIABLE, retain_freed_memory

PROBE = """
import sys
import numpy as np
from prunedistill._memory import retain_freed_memory

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

took = retain_freed_memory() if sys.argv[1] == "retain" else False
before = resident_mib()
block = np.ones(2**25)  # 256 MiB, every page touched
del block
print(took, round(resident_mib() - before))
"""

glibc_linux = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's; elsewhere retain_freed_memory is a no-op")


def _probe(mode: str, **environment: str) -> tuple[str, int]:
    env = {**os.environ, **environment}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return out[0], int(out[1])


@glibc_linux
def test_freed_memory_stays_with_the_process_only_when_asked():
    took, kept_mib = _probe("retain")
    assert took == "True" and kept_mib > 200
    took, kept_mib = _probe("default")
    assert took == "False" and kept_mib < 50


@glibc_linux
def test_the_environment_variable_turns_it_off():
    took, kept_mib = _probe("retain", **{ENVIRONMENT_VARIABLE: "0"})
    assert took == "False" and kept_mib < 50


def test_returns_false_when_turned_off(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "off")
    assert retain_freed_memory() is False
