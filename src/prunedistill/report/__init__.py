"""The study report: tidy tables (CSV + Parquet), figures (PNG + SVG) and report.html."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..config import section_dict
from ..pipeline.cache import stage_key
from . import figures, tables
from .html import report_page

__all__ = ["build_report", "draw_figures", "stage_report", "write_report"]


def _neural_tables(config, resolved, neural: dict, found: dict, derived: dict,
                   stimuli_path: Path) -> dict:
    """Neural tables (prefixed ``neural_``), brain-vs-network and similarity tables."""
    import pandas as pd

    from ..activations import ActivationStore
    from ..neural.io import load_responses
    from ..neural.study import brain_vs_network, layer_area_similarity
    from ..stimuli import load_stimuli

    per_dataset, info = {}, []
    for name, (_, path) in neural.items():
        per_dataset[name] = {p.stem: pd.read_parquet(p) for p in sorted(path.glob("*.parquet"))}
        info.append(json.loads((path / "dataset.json").read_text()))
    out = {"neural_datasets": pd.DataFrame(info)}
    for table in sorted({t for tables_ in per_dataset.values() for t in tables_}):
        out[f"neural_{table}"] = pd.concat([t[table] for t in per_dataset.values()
                                            if table in t], ignore_index=True)
    if "dimension" in found and "information_summary" in derived:
        out["brain_vs_network"] = brain_vs_network(found["dimension"],
                                                   derived["information_summary"], per_dataset)
    study_stimuli = load_stimuli(stimuli_path)
    similarity = []
    for dataset in config.neural.datasets:
        ds = load_responses(dataset.path, stimuli=study_stimuli)
        for r in resolved:
            store = ActivationStore(r.store)
            distances = {layer: (i, store.distances(layer).distances)
                         for i, layer in enumerate(r.layers)}
            similarity.append(layer_area_similarity(
                distances, ds, dataset=dataset.name, network=r.instance.network.name,
                weights=r.instance.weights, role=r.instance.role))
    if similarity:
        out["similarity"] = pd.concat(similarity, ignore_index=True)
    return out


def build_report(config, resolved, tasks, montage: Path, metadata: dict, folder: Path,
                 neural: dict | None = None) -> None:
    """Tables, figures and the page of a finished analysis stage, written into ``folder``."""
    layer_order = {}
    for r in resolved:
        layer_order.setdefault(r.instance.network.name, r.layers)
    found = tables.collect(tasks, layer_order)
    c = config.comparison
    derived = {}
    if "dimension_resamples" in found:
        derived["dimension_steps"], derived["dimension_phases"] = tables.phases(
            found["dimension_resamples"], alpha=config.dimension.alpha)
    if "information_units" in found:
        units = found["information_units"]
        derived["information_summary"] = tables.information_summary(
            units, alpha=config.information.alpha, n_boot=c.bootstrap, seed=config.seed)
        derived["invariance_summary"] = tables.invariance_summary(
            found["invariance_units"], units)
        if "dimension" in found:
            comparison, verdicts, coupling = tables.reformatting(
                units, found["dimension"], alpha=c.alpha,
                permutations=c.coupling_permutations, seed=config.seed)
            derived.update(comparison=comparison, verdicts=verdicts, coupling=coupling)
    if "decoding_single_units" in found:
        derived["decoding_single_summary"] = tables.decoding_summary(
            found["decoding_single_units"])
    if neural:
        derived.update(_neural_tables(config, resolved, neural, found, derived,
                                      montage.parent / "stimuli.zarr"))
    everything = {**found, **derived}
    write_report(everything, folder, montage=montage, title=f"prunedistill study: {config.name}",
                 metadata=metadata)


def draw_figures(found: dict, folder: Path) -> dict[str, bool]:
    """Every figure whose tables are present; returns which were drawn."""
    drawn = {}
    if "dimension" in found:
        figures.dimension_profile(found["dimension"], found.get("dimension_phases"), folder)
        drawn["dimension_profile"] = True
    if "dimension_scale" in found:
        figures.dimension_scale(found["dimension_scale"], folder)
        drawn["dimension_scale"] = True
    if "information_summary" in found:
        figures.information_decomposition(found["information_summary"], folder)
        figures.low_mid_information(found["information_summary"], folder)
        figures.invariance(found["invariance_summary"], folder)
        drawn.update(information_decomposition=True, low_mid_information=True,
                     invariance=True)
    if "decoding_single_units" in found or "decoding_population" in found:
        figures.decoding(found.get("decoding_single_summary"), found.get("decoding_population"),
                         folder)
        drawn["decoding"] = True
    if len(found.get("coupling", [])):
        figures.coupling_plot(found["coupling"], folder)
        drawn["coupling"] = True
    if "brain_vs_network" in found:
        figures.brain_vs_network(found["brain_vs_network"], folder)
        drawn["brain_vs_network"] = True
    if len(found.get("similarity", [])):
        figures.similarity(found["similarity"], folder)
        drawn["similarity"] = True
    return drawn


def write_report(everything: dict, folder: Path, *, montage: Path | None, title: str,
                 metadata: dict) -> None:
    """Tables (CSV + Parquet), figures (PNG + SVG), metadata.json and report.html."""
    tables.write_tables(everything, folder / "tables")
    figure_folder = folder / "figures"
    figure_folder.mkdir(exist_ok=True)
    if montage is not None:
        shutil.copyfile(montage, figure_folder / "montage.png")
    drawn = draw_figures(everything, figure_folder)
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=1, default=str))
    (folder / "report.html").write_text(report_page(title, drawn, everything, metadata,
                                                    montage=montage is not None))


def _publish(entry: Path, target: Path, key: str) -> None:
    """Replace ``target`` by a copy of ``entry`` (copy, then two renames)."""
    marker = target / ".key"
    if marker.exists() and marker.read_text() == key:
        return
    staging = target.with_name(target.name + ".partial")
    old = target.with_name(target.name + ".old")
    for path in (staging, old):
        if path.exists():
            shutil.rmtree(path)
    shutil.copytree(entry, staging)
    (staging / ".key").write_text(key)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def stage_report(config, cache, log, resolved, tasks, stimuli, environment: dict,
                 neural: dict | None = None) -> Path:
    """Build the report unless its key exists, and publish it to ``OUTPUT/report``."""
    started = time.perf_counter()
    key = stage_key("report", tasks=sorted(t.key for t in tasks), stimuli=stimuli[0],
                    networks=[r.key for r in resolved], comparison=section_dict(
                        config.comparison), dimension_alpha=config.dimension.alpha,
                    information_alpha=config.information.alpha, seed=config.seed,
                    name=config.name, neural=sorted(k for k, _ in (neural or {}).values()))
    cached = cache.has("report", key)
    if not cached:
        metadata = {
            "study": config.name, "config": config.model_dump(mode="json"),
            "environment": environment,
            "networks": [{"network": r.instance.network.name, "model": r.instance.network.model,
                          "weights": r.instance.weights, "weights_identity": r.identity,
                          "layers": r.layers, "description": r.description}
                         for r in resolved],
            "stage_seconds": {k: round(v, 2) for k, v in log.timings.items()},
            "stage_log": log.lines, "report_key": key,
        }
        with cache.writing("report", key) as folder:
            build_report(config, resolved, tasks, stimuli[1] / "montage.png", metadata, folder,
                         neural)
    target = Path(config.output) / "report"
    _publish(cache.path("report", key), target, key)
    log.done("report", f"{target / 'report.html'}{' (cached)' if cached else ''}", started)
    return target
