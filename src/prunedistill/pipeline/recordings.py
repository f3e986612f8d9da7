"""Recorded areas: the per-area analyses of each configured recording as tasks on the
study's executor, their tables (with summaries) gathered in one cache entry per dataset, and
the standalone report of one recording (``prunedistill neural report``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.summaries import summarise
from ..config import StudyConfig, section_dict
from .cache import DATASET_RECORD, STIMULI_STORE, Cache, Entry, StageMissing, stage_key
from .executors import run_with
from .log import StageLog
from .tasks import Task, read_tables

AREA_SORT = ["layer_index", "unit"]


@dataclass(frozen=True)
class Recording:
    """One recorded dataset of a study: its tables' entry and its description (areas in
    order, neurons per area, synthetic or not)."""

    name: str
    path: str
    entry: Entry
    description: dict
    nwb: object = None  # the NWB reader's options of this dataset

    def tables(self) -> dict[str, pd.DataFrame]:
        return {p.stem: pd.read_parquet(p) for p in sorted(self.entry.path.glob("*.parquet"))}


def check_recordings(config: StudyConfig, stimuli: Entry) -> None:
    """Read every configured recording against the study's stimuli before any network work,
    so that a mismatch (stimulus ids, areas) is found in seconds, not after the analyses."""
    if not config.neural.datasets:
        return
    from ..neural.io import load_responses
    from ..neural.schema import NeuralDataError
    from ..stimuli import load_stimuli

    study_stimuli = load_stimuli(stimuli.path / STIMULI_STORE)
    for dataset in config.neural.datasets:
        try:
            load_responses(dataset.path, stimuli=study_stimuli, nwb=dataset.nwb_options())
        except NeuralDataError as error:
            raise NeuralDataError(f"neural dataset {dataset.name!r} ({dataset.path}): "
                                  f"{error}") from None


def neural_tasks(config: StudyConfig, cache: Cache, stimuli: Entry
                 ) -> dict[str, tuple[list[Task], dict]]:
    """Per dataset: one ID task (the phases need every area) and, per area, an information
    and a decoding task, each with its own cache key; and a description of the dataset."""
    from ..models.registry import sha256_of
    from ..neural.io import load_responses
    from ..neural.schema import areas_in_order

    neural, dimension = config.neural.options(), config.dimension.options()
    information, decoding = config.information.options(), config.decoding.options()
    stimulus_path = str(stimuli.path / STIMULI_STORE)
    out = {}
    for dataset in config.neural.datasets:
        path = str(Path(dataset.path).resolve())
        ds = load_responses(path, nwb=dataset.nwb_options())  # areas and sizes only
        order = tuple(dataset.area_order or ds.attrs["area_order"])
        ds.attrs["area_order"] = list(order)
        areas = areas_in_order(ds)
        index = {a: i for i, a in enumerate(order)}
        smallest = min(int((ds["area"].values == a).sum()) for a in areas)
        sizes = tuple(int(s) for s in decoding.population_sizes if s <= smallest)
        common = dict(network=dataset.name, weights="recorded", cache_root=str(cache.root),
                      seed=config.seed, inputs={"path": path, "stimuli": stimulus_path},
                      area_order=order)
        base = dict(file=sha256_of(Path(path)), area_order=order, stimuli=stimuli.key,
                    seed=config.seed, name=dataset.name, reader=dataset.nwb_options())
        reader = {"nwb": dataset.nwb_options()}  # every task reads the file the same way
        options = {"neural": neural, "dimension": dimension}
        tasks = [Task(kind="neural_dimension", layer="all", layer_index=-1,
                      options={**options, **reader}, cost=2.0, **common,
                      key=stage_key("analyse_neural_dimension", **base, options=options))]
        for area in areas:
            n = float(np.sum(ds["area"].values == area))
            info_options = {"information": information}
            tasks.append(Task(kind="neural_information", layer=area, layer_index=index[area],
                              options={**info_options, **reader}, cost=n / 100, **common,
                              key=stage_key("analyse_neural_information", **base, area=area,
                                            options=info_options)))
            if neural.decoding and sizes:
                dec_options = {"neural": neural, "decoding": decoding}
                tasks.append(Task(kind="neural_decoding", layer=area, layer_index=index[area],
                                  options={**dec_options, **reader}, sizes=sizes, cost=2.0,
                                  **common, key=stage_key("analyse_neural_decoding", **base,
                                                          area=area, options=dec_options,
                                                          sizes=sizes)))
        description = {"name": dataset.name, "path": dataset.path,
                       "synthetic": bool(ds.attrs.get("synthetic", 0)),
                       "area_order": list(order),
                       "neurons": {a: int((ds["area"].values == a).sum()) for a in areas}}
        out[dataset.name] = (tasks, description)
    return out


def dataset_tables(config: StudyConfig, tasks: list[Task]) -> dict[str, pd.DataFrame]:
    """A dataset's tables from its task entries, with the per-area summaries and phases."""
    tables = read_tables(tasks, sort_by=AREA_SORT)
    tables.update(summarise(tables, dimension_alpha=config.dimension.alpha,
                            information_alpha=config.information.alpha,
                            comparison=config.comparison.options(), seed=config.seed))
    return tables


def stage_neural(config: StudyConfig, cache: Cache, log: StageLog, stimuli: Entry,
                 scheduler: str | None = None) -> list[Recording]:
    """Per neural dataset: the per-area analyses as tasks on the study's executor, then
    their tables (with summaries) gathered in one cache entry."""
    if not config.neural.datasets:
        return []
    started = time.perf_counter()
    per_dataset = neural_tasks(config, cache, stimuli)
    todo = [t for tasks, _ in per_dataset.values() for t in tasks
            if not cache.has(t.stage, t.key)]
    if todo and cache.read_only:
        raise StageMissing(f"{len(todo)} neural analyses are not in the cache; run "
                           "`prunedistill analyse CONFIG` first.")
    if todo:
        log.say(f"neural: {len(todo)} area analyses of {len(per_dataset)} dataset(s)...")
    run_with(config.executor, todo, scheduler=scheduler)
    recordings = []
    for dataset in config.neural.datasets:
        tasks, description = per_dataset[dataset.name]
        key = stage_key("neural", tasks=sorted(t.key for t in tasks),
                        comparison=section_dict(config.comparison),
                        alpha=config.information.alpha, dimension_alpha=config.dimension.alpha)
        if not cache.has("neural", key):
            tables = dataset_tables(config, tasks)
            with cache.writing("neural", key, {"path": dataset.path}) as folder:
                for name, table in tables.items():
                    table.to_parquet(folder / f"{name}.parquet", index=False)
                (folder / DATASET_RECORD).write_text(json.dumps(description))
        recordings.append(Recording(dataset.name, dataset.path, cache.entry("neural", key),
                                    description, dataset.nwb_options()))
    log.done("neural", f"{len(recordings)} datasets, {len(todo)} area analyses computed",
             started)
    return recordings


def report_recording(path, out, *, config: StudyConfig, stimuli, environment: dict,
                     nwb=None) -> Path:
    """Every per-area analysis of the recording at ``path`` and its report, written to the
    folder ``out``; returns the page's path. ``stimuli``: the stimulus set it responded to,
    or None to use the recording's own stimulus table (then the analyses that need images or
    RF maps are skipped, each with its reason in the report). ``nwb``: the NWB reader's
    options."""
    from ..neural.io import load_responses
    from ..neural.study import analyse_dataset
    from ..report import write_report

    ds = load_responses(path, stimuli=stimuli, nwb=nwb)
    name = Path(path).stem
    tables = analyse_dataset(ds, stimuli, name=name, neural=config.neural.options(),
                             dimension=config.dimension.options(),
                             information=config.information.options(),
                             decoding=config.decoding.options(),
                             comparison=config.comparison.options(), seed=config.seed)
    synthetic = bool(ds.attrs.get("synthetic", 0))
    title = f"prunedistill neural report: {name}" + (" (SYNTHETIC data)" if synthetic else "")
    metadata = {"file": str(path), "synthetic": synthetic,
                "stimuli": "the recording's own stimulus table (ids only)" if stimuli is None
                else f"{stimuli.sizes['stimulus']} images ({stimuli.attrs.get('set')})",
                "reader": nwb, "config": config.model_dump(mode="json"),
                "environment": environment}
    return write_report(tables, Path(out), montage=None, title=title, metadata=metadata)
