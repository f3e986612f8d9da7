"""The report stage: collect the analysis entries into tidy tables, derive the summaries
and tests (:mod:`prunedistill.analysis.summaries`), compute the layer-to-area similarity as a
cached step, then hand the finished tables to :mod:`prunedistill.report`, which only draws
and writes. The report is built in the cache and published to ``OUTPUT/report``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .._io import atomic_path
from .._validation import PrunedistillError
from ..analysis.summaries import brain_vs_network, summarise
from ..config import StudyConfig, section_dict
from .cache import SIMILARITY_TABLE, STIMULI_STORE, Cache, Entry, stage_key
from .log import StageLog
from .recordings import Recording
from .tasks import Task, read_tables

if TYPE_CHECKING:
    from .stages import Extracted

PUBLISHED_MARKER = ".key"  # in OUTPUT/report: the key of the report entry it copies


def stage_similarity(config: StudyConfig, cache: Cache, extracted: list[Extracted],
                     stimuli: Entry, recordings: list[Recording]) -> Entry | None:
    """Linear CKA and RSA of every layer of every instance with every area of every
    recording (``similarity.parquet``); None without recordings."""
    if not recordings:
        return None
    key = stage_key("similarity", stores=[x.store.key for x in extracted],
                    recordings=[r.entry.key for r in recordings], stimuli=stimuli.key)
    if not cache.has("similarity", key):
        from ..activations import ActivationStore
        from ..neural.io import load_responses
        from ..neural.study import layer_area_similarity
        from ..stimuli import load_stimuli

        study_stimuli = load_stimuli(stimuli.path / STIMULI_STORE)
        frames = []
        for recording in recordings:
            ds = load_responses(recording.path, stimuli=study_stimuli, nwb=recording.nwb)
            for x in extracted:
                store = ActivationStore(x.store_path)
                distances = {layer: (i, store.distances(layer).distances)
                             for i, layer in enumerate(x.network.layers)}
                instance = x.network.instance
                frames.append(layer_area_similarity(
                    distances, ds, dataset=recording.name, network=instance.network.name,
                    weights=instance.weights, role=instance.role))
        with cache.writing("similarity", key) as folder:
            pd.concat(frames, ignore_index=True).to_parquet(folder / SIMILARITY_TABLE,
                                                            index=False)
    return cache.entry("similarity", key)


def recorded_tables(recordings: list[Recording]) -> dict[str, pd.DataFrame]:
    """The recordings' tables, prefixed ``neural_`` and concatenated over datasets, with
    ``neural_datasets`` describing each."""
    per_dataset = {r.name: r.tables() for r in recordings}
    out = {"neural_datasets": pd.DataFrame([r.description for r in recordings])}
    for name in sorted({t for tables in per_dataset.values() for t in tables}):
        out[f"neural_{name}"] = pd.concat([t[name] for t in per_dataset.values() if name in t],
                                          ignore_index=True)
    return out


def study_tables(config: StudyConfig, tasks: list[Task], recordings: list[Recording],
                 similarity: Entry | None) -> dict[str, pd.DataFrame]:
    """Every table of the report: the collected analyses, their summaries and tests, and
    the recorded areas with the brain-vs-network comparison."""
    found = read_tables(tasks)
    tables = {**found, **summarise(found, dimension_alpha=config.dimension.alpha,
                                   information_alpha=config.information.alpha,
                                   comparison=config.comparison.options(), seed=config.seed)}
    if recordings:
        tables.update(recorded_tables(recordings))
        if "dimension" in tables and "information_summary" in tables:
            tables["brain_vs_network"] = brain_vs_network(
                tables["dimension"], tables["information_summary"],
                {r.name: r.tables() for r in recordings})
    if similarity is not None:
        tables["similarity"] = pd.read_parquet(similarity.path / SIMILARITY_TABLE)
    return tables


def publish(entry: Path, target: Path, key: str) -> None:
    """Replace ``target`` by a copy of ``entry``. A ``target`` that is not a report this
    project wrote (no marker file) is refused, never deleted."""
    from ..report import is_ours

    marker = target / PUBLISHED_MARKER
    if marker.exists() and marker.read_text() == key:
        return
    if not is_ours(target):
        raise PrunedistillError(
            f"{target} exists and is not a prunedistill report; move it away or choose "
            "another output folder (--output).")
    with atomic_path(target, folder=True) as staging:
        shutil.copytree(entry, staging, dirs_exist_ok=True)
        (staging / PUBLISHED_MARKER).write_text(key)


def stage_report(config: StudyConfig, cache: Cache, log: StageLog, extracted: list[Extracted],
                 tasks: list[Task], stimuli: Entry, recordings: list[Recording],
                 environment: dict) -> Path:
    """Build the report unless its key exists, and publish it to ``OUTPUT/report``."""
    from ..report import write_report

    started = time.perf_counter()
    similarity = stage_similarity(config, cache, extracted, stimuli, recordings)
    key = stage_key("report", tasks=sorted(t.key for t in tasks), stimuli=stimuli.key,
                    networks=[x.network.key for x in extracted],
                    comparison=section_dict(config.comparison),
                    dimension_alpha=config.dimension.alpha,
                    information_alpha=config.information.alpha, seed=config.seed,
                    name=config.name, neural=sorted(r.entry.key for r in recordings),
                    similarity=similarity.key if similarity else None)
    cached = cache.has("report", key)
    if not cached:
        metadata = {
            "study": config.name, "config": config.model_dump(mode="json"),
            "environment": environment,
            "networks": [{"network": x.network.instance.network.name,
                          "model": x.network.instance.network.model,
                          "weights": x.network.instance.weights,
                          "weights_identity": x.network.identity,
                          "layers": list(x.network.layers),
                          "description": x.network.description} for x in extracted],
            "stage_seconds": {k: round(v, 2) for k, v in log.timings.items()},
            "stage_log": log.lines, "report_key": key,
        }
        from ..stimuli import load_stimuli
        from ..stimuli.montage import montage_panels

        tables = study_tables(config, tasks, recordings, similarity)
        panels = montage_panels(load_stimuli(stimuli.path / STIMULI_STORE))
        with cache.writing("report", key) as folder:
            write_report(tables, folder, montage=panels,
                         title=f"prunedistill study: {config.name}", metadata=metadata,
                         stimulus_set=config.stimuli.set)
    target = Path(config.output) / "report"
    publish(cache.path("report", key), target, key)
    log.done("report", f"{target / 'report.html'}{' (cached)' if cached else ''}", started)
    return target


__all__ = ["publish", "stage_report", "stage_similarity", "study_tables"]
