"""The one atomic writer: a file or a folder appears whole at its path, or not at all.

Every output of the project goes through :func:`atomic_path`: the content is written to a
temporary name beside the target (unique to the writing process, so two writers never touch
each other's work), then renamed into place. A crash, an exception or a kill leaves the
target as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._validation import PrunedistillError

PARTIAL_SUFFIX = ".partial"


def _host() -> str:
    return "".join(c for c in socket.gethostname() if c.isalnum() or c == "-") or "host"


def partial_name(path: Path) -> Path:
    """A temporary sibling of ``path``, unique to this process and call:
    ``NAME.<host>~<pid>~<random>.partial``."""
    return path.with_name(f"{path.name}.{_host()}~{os.getpid()}~{uuid.uuid4().hex[:8]}"
                          f"{PARTIAL_SUFFIX}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_partials(path) -> int:
    """Delete the temporaries of ``path`` left by writers on this host that have died (a
    kill -9 mid-write); live writers' and other hosts' temporaries are kept. Returns how
    many were removed."""
    path = Path(path)
    removed = 0
    for candidate in path.parent.glob(f"{path.name}.*{PARTIAL_SUFFIX}"):
        host, _, rest = candidate.name[len(path.name) + 1:].partition("~")
        pid = rest.partition("~")[0]
        if host == _host() and pid.isdigit() and not _alive(int(pid)):
            remove_path(candidate)
            removed += 1
    return removed


def remove_path(path: Path) -> None:
    """Delete a file, link or folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path, *, folder: bool = False, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    ``folder``: the temporary path is created as an empty folder (for entries of several
    files); otherwise nothing is created and the caller writes a file or a store there.
    On any exception the temporary path is deleted and ``path`` is untouched. A folder
    replaces an existing folder whole (the old one is renamed aside, then deleted). With
    ``replace=False`` a ``path`` that another writer published first is kept and this
    writer's copy discarded (content-keyed entries: both copies are the same).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = partial_name(path)
    if folder:
        tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        remove_path(tmp)
        raise
    if not replace:
        try:
            os.rename(tmp, path)  # fails when another writer's entry is already there
        except OSError:
            if not path.exists():
                raise
            remove_path(tmp)
        return
    if tmp.is_dir() and path.exists():
        old = partial_name(path)
        path.rename(old)
        tmp.rename(path)
        remove_path(old)
    else:
        os.replace(tmp, path)


def zarr_store_with(path, attribute: str) -> bool:
    """Whether ``path`` is a zarr (v2) store whose root attributes include ``attribute``:
    how the writers of prunedistill's stores recognise a store they wrote."""
    attrs = Path(path) / ".zattrs"
    if not attrs.is_file():
        return False
    try:
        return attribute in json.loads(attrs.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def refuse_foreign(path, attribute: str, what: str) -> None:
    """Raise unless ``path`` is absent or a store of ours (see :func:`zarr_store_with`)."""
    path = Path(path)
    if path.exists() and not zarr_store_with(path, attribute):
        raise PrunedistillError(f"{path} exists and is not {what} written by prunedistill; "
                                "nothing was replaced. Move it away or name a new path.")


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
