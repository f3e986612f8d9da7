"""Where the per-(network, layer) analyses run: this process, a local process pool, or a
Dask distributed cluster. Every task writes its own cache entry, so the executor changes
only where the work happens, never the results."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence

from .._memory import retain_freed_memory
from .tasks import Task, run_task

PARENT_CHECK_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """Poll the parent; when it is gone (killed, even by SIGKILL or the OOM killer) end this
    worker at once, before it can publish a half-finished task for a run that no longer
    exists."""
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _worker_setup(parent: int) -> None:
    """Worker initialiser: die with the parent; one BLAS/torch thread per process, so N
    workers use N cores; keep freed memory for reuse, as the CLI's process does."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    retain_freed_memory()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def run_tasks(tasks: Sequence[Task], *, kind: str = "local", workers: int = 1,
              address: str | None = None, on_done: Callable[[Task], None] | None = None
              ) -> None:
    """Run every task (largest ``cost`` first); ``on_done`` is called as each finishes.

    ``kind``: "local" (``workers`` processes; 1 runs here) or "dask" (the scheduler at
    ``address``, e.g. ``tcp://10.0.0.1:8786``, or a ``distributed.Client`` already made).
    """
    ordered = sorted(tasks, key=lambda t: -t.cost)
    on_done = on_done or (lambda task: None)
    if kind == "dask":
        _run_on_dask(ordered, address, on_done)
    elif workers <= 1 or len(ordered) <= 1:
        for task in ordered:
            run_task(task)
            on_done(task)
    else:
        _run_on_pool(ordered, workers, on_done)


def run_with(executor, tasks: Sequence[Task], *, scheduler=None,
             on_done: Callable[[Task], None] | None = None) -> str:
    """Run ``tasks`` where a study's ``executor`` section says, or on the Dask
    ``scheduler`` given on the command line; returns the executor kind used."""
    kind, address = ("dask", scheduler) if scheduler else (executor.kind, executor.address)
    run_tasks(tasks, kind=kind, workers=executor.workers, address=address, on_done=on_done)
    return kind


def _run_on_pool(tasks: Sequence[Task], workers: int, on_done) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # fork after torch threads start is unsafe
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context,
                             initializer=_worker_setup, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_task, task): task for task in tasks}
        for future in as_completed(futures):
            future.result()
            on_done(futures[future])


def _run_on_dask(tasks: Sequence[Task], address, on_done) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise RuntimeError("the dask executor needs `distributed`: pip install "
                           "'prunedistill[dask]'.") from None
    if address is None:
        raise ValueError("executor kind 'dask' needs an address (executor.address in the "
                         "config, or --scheduler tcp://HOST:PORT).")
    client = address if isinstance(address, Client) else Client(address)
    try:
        futures = [client.submit(run_task, task, key=f"{task.stage}-{task.key}", pure=False)
                   for task in tasks]
        by_key = {future.key: task for future, task in zip(futures, tasks)}
        for future in as_completed(futures):
            future.result()
            on_done(by_key[future.key])
    finally:
        if client is not address:
            client.close()
