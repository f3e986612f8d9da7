"""The neural stage: every per-area analysis of each configured recording, as tables in a
cache entry (run in this process)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import StudyConfig, section_dict
from .cache import Cache, stage_key
from .options import neural_options, unit_options

if TYPE_CHECKING:
    from .stages import StageLog


def stage_neural(config: StudyConfig, cache: Cache, log: StageLog,
                 stimuli: tuple[str, Path]) -> dict[str, tuple[str, Path]]:
    """Per neural dataset: every per-area analysis, as tables in a cache entry."""
    from ..models.registry import sha256_of
    from ..neural.io import load_responses
    from ..neural.study import analyse_dataset
    from ..stimuli import load_stimuli

    started = time.perf_counter()
    entries, n_new = {}, 0
    sections = {k: section_dict(getattr(config, k)) for k in ("dimension", "information",
                                                               "decoding", "comparison")}
    options = {k: v for k, v in section_dict(config.neural).items() if k != "datasets"}
    for dataset in config.neural.datasets:
        key = stage_key("neural", file=sha256_of(Path(dataset.path)),
                        area_order=dataset.area_order, stimuli=stimuli[0], options=options,
                        sections=sections, seed=config.seed)
        if not cache.has("neural", key):
            n_new += 1
            study_stimuli = load_stimuli(stimuli[1] / "stimuli.zarr")
            ds = load_responses(dataset.path, stimuli=study_stimuli)
            if not log.quiet:
                print(f"analysing {dataset.name}: {ds.sizes['neuron']} neurons in "
                      f"{', '.join(ds.attrs['area_order'])} (ID, information, decoding)...",
                      flush=True)
            if dataset.area_order:
                from ..neural import validate_responses

                ds.attrs["area_order"] = list(dataset.area_order)
                validate_responses(ds)
            tables = analyse_dataset(ds, study_stimuli, name=dataset.name,
                                     config=neural_options(config),
                                     unit_config=unit_options(config, trials=True),
                                     alpha=config.information.alpha,
                                     n_boot=config.comparison.bootstrap,
                                     decoding=config.neural.decoding)
            with cache.writing("neural", key, {"path": dataset.path}) as folder:
                for name, table in tables.items():
                    table.to_parquet(folder / f"{name}.parquet", index=False)
                (folder / "dataset.json").write_text(json.dumps({
                    "name": dataset.name, "path": dataset.path,
                    "synthetic": bool(ds.attrs.get("synthetic", 0)),
                    "area_order": list(ds.attrs["area_order"]),
                    "neurons": {a: int((ds["area"].values == a).sum())
                                for a in ds.attrs["area_order"]}}))
        entries[dataset.name] = (key, cache.path("neural", key))
    if entries:
        log.done("neural", f"{len(entries)} datasets, {n_new} analysed", started)
    return entries
