"""The neural stage: every per-area analysis of each configured recording, as tables in a
cache entry (run in this process)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import StudyConfig, section_dict
from .cache import Cache, stage_key
from .executors import run_with
from .options import neural_options
from .tasks import Task

if TYPE_CHECKING:
    from .stages import StageLog


def neural_tasks(config: StudyConfig, cache: Cache, stimuli: tuple[str, Path]
                 ) -> dict[str, tuple[list[Task], dict]]:
    """Per dataset: one ID task (the phases need every area) and, per area, an information
    and a decoding task, each with its own cache key; and a description of the dataset
    (areas in order, neurons per area, synthetic or not)."""
    from dataclasses import asdict

    import numpy as np

    from ..models.registry import sha256_of
    from ..neural.io import load_responses
    from ..neural.schema import areas_in_order

    analysis = asdict(neural_options(config))
    analysis["decoding_sizes"] = list(analysis["decoding_sizes"])
    information = section_dict(config.information)
    stimulus_path = str(stimuli[1] / "stimuli.zarr")
    out = {}
    for dataset in config.neural.datasets:
        file_key = sha256_of(Path(dataset.path))
        ds = load_responses(dataset.path)  # areas and sizes only; validated again in tasks
        order = list(dataset.area_order or ds.attrs["area_order"])
        ds.attrs["area_order"] = order
        areas = areas_in_order(ds)
        smallest = min(int((ds["area"].values == a).sum()) for a in areas)
        sizes = [int(s) for s in config.decoding.population_sizes if s <= smallest]
        inputs = {"path": dataset.path, "stimuli": stimulus_path}
        common = dict(network=dataset.name, weights="recorded", cache_root=str(cache.root),
                      seed=config.seed, inputs=inputs)
        base = dict(file=file_key, area_order=order, stimuli=stimuli[0], seed=config.seed)
        options = {"analysis": analysis, "area_order": order}
        tasks = [Task(kind="neural_dimension", layer="all", options=options,
                      key=stage_key("analyse_neural_dimension", **base, options=options),
                      cost=2.0, **common)]
        for area in areas:
            n = float(np.sum(ds["area"].values == area))
            info_options = {"information": information, "area_order": order}
            tasks.append(Task(kind="neural_information", layer=area, options=info_options,
                              key=stage_key("analyse_neural_information", **base, area=area,
                                            options=info_options), cost=n / 100, **common))
            if config.neural.decoding and sizes:
                dec_options = {"analysis": analysis, "sizes": sizes, "area_order": order}
                tasks.append(Task(kind="neural_decoding", layer=area, options=dec_options,
                                  key=stage_key("analyse_neural_decoding", **base, area=area,
                                                options=dec_options), cost=2.0, **common))
        description = {"name": dataset.name, "path": dataset.path,
                       "synthetic": bool(ds.attrs.get("synthetic", 0)), "area_order": order,
                       "neurons": {a: int((ds["area"].values == a).sum()) for a in areas}}
        out[dataset.name] = (tasks, description)
    return out


def _assemble(config: StudyConfig, tasks: list[Task]) -> dict:
    """The dataset's tables from its task entries, with the per-area summaries."""
    import pandas as pd

    from ..neural.study import area_summaries

    parts: dict[str, list] = {}
    for task in tasks:
        for path in sorted(task.path.glob("*.parquet")):
            parts.setdefault(path.stem, []).append(pd.read_parquet(path))
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    for name in ("information_units", "invariance_units", "decoding_population"):
        if name in tables:
            tables[name] = tables[name].sort_values(
                ["layer_index"] + (["unit"] if "unit" in tables[name] else []),
                kind="stable").reset_index(drop=True)
    tables.update(area_summaries(tables["information_units"], tables["invariance_units"],
                                 alpha=config.information.alpha,
                                 n_boot=config.comparison.bootstrap, seed=config.seed))
    return tables


def stage_neural(config: StudyConfig, cache: Cache, log: StageLog,
                 stimuli: tuple[str, Path], scheduler: str | None = None
                 ) -> dict[str, tuple[str, Path]]:
    """Per neural dataset: the per-area analyses as tasks on the study's executor, then
    their tables (with summaries) gathered in one cache entry."""
    if not config.neural.datasets:
        return {}
    started = time.perf_counter()
    per_dataset = neural_tasks(config, cache, stimuli)
    todo = [t for tasks, _ in per_dataset.values() for t in tasks
            if not cache.has(t.stage, t.key)]
    if todo and cache.read_only:
        from .cache import StageMissing

        raise StageMissing(f"{len(todo)} neural analyses are not in the cache; run "
                           "`prunedistill analyse CONFIG` first.")
    if todo and not log.quiet:
        print(f"neural: {len(todo)} area analyses of {len(per_dataset)} dataset(s)...",
              flush=True)
    run_with(config.executor, todo, scheduler=scheduler)
    entries = {}
    for dataset in config.neural.datasets:
        tasks, description = per_dataset[dataset.name]
        key = stage_key("neural", tasks=sorted(t.key for t in tasks),
                        comparison=section_dict(config.comparison),
                        alpha=config.information.alpha)
        if not cache.has("neural", key):
            tables = _assemble(config, tasks)
            with cache.writing("neural", key, {"path": dataset.path}) as folder:
                for name, table in tables.items():
                    table.to_parquet(folder / f"{name}.parquet", index=False)
                (folder / "dataset.json").write_text(json.dumps(description))
        entries[dataset.name] = (key, cache.path("neural", key))
    log.done("neural", f"{len(entries)} datasets, {len(todo)} area analyses computed",
             started)
    return entries
