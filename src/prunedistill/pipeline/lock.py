"""One run at a time per output folder: an advisory lock (``OUTPUT/.prunedistill.lock``)
held for the whole run. A second run on the same folder waits for the first and says which
process holds it; cache entries are also safe without it (per-writer temporary names,
first complete copy wins), so Dask workers on other machines need no lock of their own."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._validation import PrunedistillError

LOCK_NAME = ".prunedistill.lock"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextmanager
def output_lock(output: Path, say=_say) -> Iterator[None]:
    """Hold the lock of ``output`` for the block; wait (saying who holds it, on stderr) if
    another run has it."""
    if output.exists() and not output.is_dir():
        raise PrunedistillError(f"the output folder {output} is a file; name a folder "
                                "(--output DIR or `output:` in the config).")
    output.mkdir(parents=True, exist_ok=True)
    path = output / LOCK_NAME
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            say(f"waiting: {output} is in use by {holder}; this run continues when it ends "
                "(Ctrl-C to stop).")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
