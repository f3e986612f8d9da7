"""The study pipeline: stimuli -> networks -> extract (+ receptive fields) -> analyse ->
report. Each stage output is a cache entry keyed by its config section and its inputs'
keys, so a rerun skips what exists and an interrupted run resumes."""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import NetworkConfig, StudyConfig, section_dict
from .cache import Cache, StageMissing, stage_key
from .executors import run_with
from .recordings import stage_neural
from .tasks import Task

ORIENTATION_WAVELENGTH_DEG = 10.0


class StageLog:
    """One line per stage with its time; the times go into the run metadata."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self.lines: list[str] = []

    def done(self, stage: str, summary: str, started: float) -> None:
        seconds = time.perf_counter() - started
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds
        line = f"[{stage}] {summary} ({seconds:.1f} s)"
        self.lines.append(line)
        if not self.quiet:
            print(line, flush=True)


@dataclass(frozen=True)
class Instance:
    """One network with one set of weights (trained, or an untrained seed)."""

    network: NetworkConfig
    weights: str

    @property
    def role(self) -> str:
        return "untrained" if self.weights.startswith("untrained") else "trained"

    @property
    def label(self) -> str:
        return f"{self.network.name} {self.weights}"


@dataclass
class Resolved:
    """What the stages produced for one instance."""

    instance: Instance
    key: str
    identity: str
    layers: list[str]
    description: dict = field(default_factory=dict)
    store: Path | None = None
    store_key: str = ""
    id_store: Path | None = None
    id_store_key: str = ""
    rf: Path | None = None
    rf_key: str = ""


def _folder_fingerprint(folder: str | None) -> list:
    if folder is None:
        return []
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                  for p in Path(folder).iterdir() if p.is_file())


def stage_stimuli(config: StudyConfig, cache: Cache, log: StageLog) -> tuple[str, Path]:
    """Render or load the study's stimuli; with the montage and orientation energy maps."""
    from ..stimuli import load_folder, save_montage, save_stimuli, tafazoli
    from ..stimuli.properties import orientation_energy
    from ..stimuli.sets import TAFAZOLI_OBJECTS

    started = time.perf_counter()
    s = config.stimuli
    key = stage_key("stimuli", config=section_dict(s), files=_folder_fingerprint(s.folder))
    cached = cache.has("stimuli", key)
    if not cached:
        with cache.writing("stimuli", key, section_dict(s)) as folder:
            if s.set == "tafazoli":
                stimuli = tafazoli(s.size, s.objects or TAFAZOLI_OBJECTS, field_deg=s.field_deg,
                                   supersample=s.supersample, progress=not log.quiet)
            else:
                if s.folder is None:
                    raise ValueError("stimuli.set is 'folder' but stimuli.folder is not set.")
                stimuli = load_folder(s.folder, s.metadata, field_deg=s.field_deg,
                                      size=s.size if s.resize else None)
            save_stimuli(stimuli, folder / "stimuli.zarr")
            save_montage(stimuli, folder / "montage.png")
            np.save(folder / "energy.npy", orientation_energy(
                stimuli["images"].values, stimuli.attrs["deg_per_pixel"],
                ORIENTATION_WAVELENGTH_DEG))
    path = cache.path("stimuli", key)
    log.done("stimuli", f"{s.set} at {s.size} px{' (cached)' if cached else ''}", started)
    return key, path


def stage_bars(config: StudyConfig, cache: Cache, log: StageLog) -> tuple[str, Path]:
    """The RF-mapping bars on the study's image grid."""
    from ..stimuli import bars, save_stimuli

    started = time.perf_counter()
    s = config.stimuli
    key = stage_key("bars", size=s.size, field_deg=s.field_deg)
    cached = cache.has("bars", key)
    if not cached:
        with cache.writing("bars", key) as folder:
            save_stimuli(bars(s.size, field_deg=s.field_deg), folder / "bars.zarr")
    log.done("bars", f"RF-mapping bars at {s.size} px{' (cached)' if cached else ''}", started)
    return key, cache.path("bars", key) / "bars.zarr"


def stage_id_points(config: StudyConfig, cache: Cache, log: StageLog) -> tuple[str, Path]:
    """Held-out renders of the training stream, the points of the ID when
    ``dimension.points`` is 'training'."""
    from ..stimuli import Camera, TrainingStream, save_stimuli

    started = time.perf_counter()
    s, d = config.stimuli, config.dimension
    key = stage_key("id_points", size=s.size, field_deg=s.field_deg,
                    supersample=s.supersample, n_points=d.n_points, seed=config.seed)
    cached = cache.has("id_points", key)
    if not cached:
        with cache.writing("id_points", key) as folder:
            stream = TrainingStream(camera=Camera(s.size, s.field_deg, s.supersample),
                                    seed=config.seed, epoch_images=d.n_points)
            save_stimuli(stream.as_dataset(0, stream=1), folder / "points.zarr")
    log.done("id_points", f"{d.n_points} held-out training-stream renders"
             f"{' (cached)' if cached else ''}", started)
    return key, cache.path("id_points", key) / "points.zarr"


class _Models:
    """Loads each instance's model once, only when a stage needs it."""

    def __init__(self):
        self._loaded = {}

    def get(self, instance: Instance):
        from ..models import load_model

        key = (instance.network.name, instance.weights)
        if key not in self._loaded:
            self._loaded[key] = load_model(instance.network.model, instance.weights)
        return self._loaded[key]


def stage_networks(config: StudyConfig, cache: Cache, log: StageLog, models: _Models,
                   image_size: int) -> list[Resolved]:
    """Resolve every (network, weights): weights identity, and the layers to analyse."""
    import torch

    from ..activations import list_layers, resolve_layers
    from ..models import weights_identity

    started = time.perf_counter()
    resolved = []
    for network in config.networks:
        for weights in network.weight_specs:
            instance = Instance(network, weights)
            identity = weights_identity(network.model, weights)
            key = stage_key("networks", model=network.model, weights=identity,
                            layers=network.layers, size=image_size, torch=torch.__version__)
            if not cache.has("networks", key):
                model = models.get(instance)
                size = image_size if model.preprocessing.input_size is None else None
                infos = resolve_layers(model, network.layers, list_layers(model, size))
                with cache.writing("networks", key) as folder:
                    (folder / "network.json").write_text(json.dumps(
                        {**model.describe(), "weights_spec": weights,
                         "layers": [i.name for i in infos],
                         "units": {i.name: i.n_units for i in infos}}, indent=1))
            record = json.loads((cache.path("networks", key) / "network.json").read_text())
            resolved.append(Resolved(instance, key, identity, record["layers"], record))
    log.done("networks", f"{len(resolved)} network instances", started)
    return resolved


def _bar_fits(model, layers: list[str], subsets: dict, bars_path: Path, batch_size: int,
              device: str | None) -> dict:
    """Gaussian fits of every subset unit's bar response map, per layer."""
    from dataclasses import asdict

    from ..activations import LayerTap, resolve_device, resolve_layers
    from ..receptive_fields import bar_response_maps, fit_gaussian
    from ..stimuli import load_stimuli

    bars = load_stimuli(bars_path)
    images = bars["images"].values
    tap = LayerTap(model, resolve_layers(model, layers), resolve_device(device))
    responses = {layer: [] for layer in layers}
    try:
        for start in range(0, len(images), batch_size):
            for layer, rows in tap(images[start:start + batch_size]).items():
                responses[layer].append(rows.numpy()[:, subsets[layer]])
    finally:
        tap.close()
    fits = {}
    for layer in layers:
        maps, azimuth, elevation = bar_response_maps(np.concatenate(responses[layer]).T, bars)
        fits[layer] = asdict(fit_gaussian(maps, azimuth, elevation))
    return fits


def stage_extract(config: StudyConfig, cache: Cache, log: StageLog, models: _Models,
                  resolved: list[Resolved], stimuli: tuple[str, Path],
                  id_points: tuple[str, Path] | None, bars: tuple[str, Path] | None) -> None:
    """Per instance: activations (unit subset + exact Gram) of the study stimuli, of the ID
    points when separate, and the units' receptive fields."""
    from ..activations import ActivationStore, extract_to_store
    from ..stimuli import load_stimuli

    started = time.perf_counter()
    e, info = config.extraction, config.information
    n_new = 0
    for r in resolved:
        r.store_key = stage_key("extract", network=r.key, stimuli=stimuli[0],
                                batch_size=e.batch_size, units=info.units_per_layer,
                                seed=config.seed)
        if not cache.has("extract", r.store_key):
            n_new += 1
            with cache.writing("extract", r.store_key) as folder:
                extract_to_store(models.get(r.instance), load_stimuli(stimuli[1] / "stimuli.zarr"),
                                 r.layers, folder / "activations.zarr", batch_size=e.batch_size,
                                 device=e.device, subset_size=info.units_per_layer,
                                 seed=config.seed, keep_full=False, progress=not log.quiet)
        r.store = cache.path("extract", r.store_key) / "activations.zarr"
        if id_points is not None:
            r.id_store_key = stage_key("extract_id", network=r.key, points=id_points[0],
                                       batch_size=e.batch_size)
            if not cache.has("extract_id", r.id_store_key):
                n_new += 1
                with cache.writing("extract_id", r.id_store_key) as folder:
                    extract_to_store(models.get(r.instance), load_stimuli(id_points[1]),
                                     r.layers, folder / "activations.zarr",
                                     batch_size=e.batch_size, device=e.device, subset_size=0,
                                     keep_full=False, progress=not log.quiet)
            r.id_store = cache.path("extract_id", r.id_store_key) / "activations.zarr"
        if info.receptive_fields == "full_field":
            continue
        r.rf_key = stage_key("receptive_fields", store=r.store_key, method=info.receptive_fields,
                             bars=bars[0] if bars else None)
        if not cache.has("receptive_fields", r.rf_key):
            n_new += 1
            store = ActivationStore(r.store)
            subsets = {layer: store.subset_units(layer) for layer in r.layers}
            model = models.get(r.instance)
            with cache.writing("receptive_fields", r.rf_key) as folder:
                if info.receptive_fields == "bars":
                    fits = _bar_fits(model, r.layers, subsets, bars[1], e.batch_size, e.device)
                    for layer, fit in fits.items():
                        np.savez(folder / f"{layer}.npz", **fit)
                else:
                    from ..activations import resolve_device
                    from ..receptive_fields import gradient_rf_maps

                    images = load_stimuli(stimuli[1] / "stimuli.zarr")["images"].values
                    for layer in r.layers:
                        maps = gradient_rf_maps(model, layer, subsets[layer], images,
                                                device=resolve_device(e.device))
                        np.savez(folder / f"{layer}.npz", maps=maps.astype(np.float32))
        r.rf = cache.path("receptive_fields", r.rf_key)
    log.done("extract", f"{len(resolved)} instances, {n_new} new entries "
             f"(activations, receptive fields)", started)


def build_tasks(config: StudyConfig, cache: Cache, resolved: list[Resolved],
                stimuli: tuple[str, Path]) -> list[Task]:
    """One task per (instance, layer, analysis kind), each with its own cache key."""
    from ..activations import ActivationStore

    tasks = []
    dimension = section_dict(config.dimension)
    dimension.pop("alpha")  # used by the phases in the report, not by the estimates
    information = section_dict(config.information)
    decoding = section_dict(config.decoding)
    root = str(cache.root)
    for r in resolved:
        store = ActivationStore(r.store)
        for layer in r.layers:
            n_units = len(store.subset_units(layer))
            common = dict(network=r.instance.network.name, weights=r.instance.weights,
                          layer=layer, cache_root=root, seed=config.seed)
            id_key = r.id_store_key or r.store_key
            tasks.append(Task(kind="dimension", key=stage_key(
                "analyse_dimension", store=id_key, layer=layer, options=dimension,
                seed=config.seed), inputs={"store": str(r.store),
                                           "id_store": str(r.id_store) if r.id_store else ""},
                options=dimension, cost=1.0, **common))
            options = {**information, "n_units": n_units}
            tasks.append(Task(kind="information", key=stage_key(
                "analyse_information", store=r.store_key, rf=r.rf_key, stimuli=stimuli[0],
                layer=layer, options=options, seed=config.seed),
                inputs={"store": str(r.store), "stimuli": str(stimuli[1] / "stimuli.zarr"),
                        "energy": str(stimuli[1] / "energy.npy"),
                        "rf": str(r.rf) if r.rf else ""},
                options=options, cost=3.0 * n_units / 500, **common))
            if config.decoding.enabled:
                tasks.append(Task(kind="decoding", key=stage_key(
                    "analyse_decoding", store=r.store_key, stimuli=stimuli[0], layer=layer,
                    options=decoding, seed=config.seed),
                    inputs={"store": str(r.store),
                            "stimuli": str(stimuli[1] / "stimuli.zarr")},
                    options=decoding, cost=2.0, **common))
    return tasks


def stage_analyse(config: StudyConfig, cache: Cache, log: StageLog, tasks: list[Task],
                  scheduler: str | None = None) -> None:
    started = time.perf_counter()
    todo = [t for t in tasks if not cache.has(t.stage, t.key)]
    if todo and cache.read_only:
        raise StageMissing(f"{len(todo)} of {len(tasks)} analyses are not in the cache (first: "
                           f"{todo[0].kind} of {todo[0].network} {todo[0].weights} "
                           f"{todo[0].layer}); run `prunedistill analyse CONFIG` first.")
    bar = None
    if todo and not log.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="analyses", unit="task")
    kind = run_with(config.executor, todo, scheduler=scheduler,
                    on_done=(lambda task: bar.update(1)) if bar else None)
    if bar:
        bar.close()
    where = f"on {kind}" + (f" ({config.executor.workers} workers)" if kind == "local"
                            else "")
    log.done("analyse", f"{len(tasks)} analyses, {len(todo)} computed {where}", started)


def environment() -> dict:
    import torch

    packages = {}
    for name in ("numpy", "scipy", "torch", "torchvision", "xarray", "zarr", "pandas",
                 "scikit-learn", "pybullet", "matplotlib", "pydantic"):
        try:
            from importlib.metadata import version

            packages[name] = version(name)
        except Exception:  # an optional package that is absent
            packages[name] = None
    return {"prunedistill": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
            "packages": packages}


def run_study(config: StudyConfig, *, quiet: bool = False, scheduler: str | None = None,
              until: str = "report", report_only: bool = False) -> Path:
    """Run the study up to ``until`` ("extract", "analyse" or "report"); returns the output
    folder (the report is in ``OUTPUT/report``). ``report_only``: build the report from
    analyses already in the cache, and fail naming the first missing stage otherwise.
    ``scheduler``: a Dask scheduler address (or ``distributed.Client``) for the analyses."""
    from ..report import stage_report

    if until not in ("extract", "analyse", "report"):
        raise ValueError(f"until must be extract, analyse or report; got {until!r}.")
    output = Path(config.output)
    cache = Cache(output / "cache", read_only=report_only, writable=("report",))
    log = StageLog(quiet)
    total = time.perf_counter()
    models = _Models()
    stimuli = stage_stimuli(config, cache, log)
    id_points = stage_id_points(config, cache, log) if config.dimension.points == "training" \
        else None
    bars = stage_bars(config, cache, log) if config.information.receptive_fields == "bars" \
        else None
    resolved = stage_networks(config, cache, log, models, config.stimuli.size)
    stage_extract(config, cache, log, models, resolved, stimuli, id_points, bars)
    if until == "extract":
        return output
    tasks = build_tasks(config, cache, resolved, stimuli)
    stage_analyse(config, cache, log, tasks, scheduler)
    neural = stage_neural(config, cache, log, stimuli, scheduler)  # recorded areas, if any
    if until == "analyse":
        return output
    stage_report(config, cache, log, resolved, tasks, stimuli, environment(), neural)
    if not quiet:
        print(f"done in {time.perf_counter() - total:.1f} s -> "
              f"{output / 'report' / 'report.html'}")
    return output
