"""The study pipeline: stimuli -> networks -> extract (+ receptive fields) -> analyse ->
report. Each stage output is a cache entry keyed by its config section and its inputs'
keys, so a rerun skips what exists and an interrupted run resumes. Stages return frozen
records (:class:`~prunedistill.pipeline.cache.Entry`, :class:`ResolvedNetwork`,
:class:`Extracted`); nothing is filled in later."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..analysis.tables import role_of
from ..analysis.units import ORIENTATION_WAVELENGTH_DEG
from ..config import NetworkConfig, StudyConfig, section_dict
from .cache import (
    ACTIVATIONS_STORE,
    BARS_STORE,
    ENERGY_MAPS,
    NETWORK_RECORD,
    POINTS_STORE,
    STIMULI_STORE,
    Cache,
    Entry,
    StageMissing,
    plain,
    stage_key,
)
from .executors import run_with
from .inputs import (
    ImageFormat,
    NetworkInput,
    base_format,
    natural_image_format,
    network_inputs,
)
from .lock import output_lock
from .log import StageLog, environment
from .recordings import check_recordings, stage_neural
from .report_stage import stage_report
from .tasks import Task


@dataclass(frozen=True)
class Instance:
    """One network with one set of weights (trained, or an untrained seed)."""

    network: NetworkConfig
    weights: str

    @property
    def role(self) -> str:
        return role_of(self.weights)


@dataclass(frozen=True)
class ResolvedNetwork:
    """One instance with its weights identity, the layers to analyse and the network
    record (``description``) written by the networks stage."""

    instance: Instance
    key: str
    identity: str
    layers: tuple[str, ...]
    description: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Extracted:
    """The extraction entries of one instance: activations of the study stimuli (``stimuli``:
    the set at this network's input format), of the ID points when they are separate, and
    the receptive fields (when mapped)."""

    network: ResolvedNetwork
    stimuli: Entry
    store: Entry
    id_store: Entry | None
    rf: Entry | None

    @property
    def store_path(self) -> Path:
        return self.store.path / ACTIVATIONS_STORE

    @property
    def id_store_path(self) -> Path | None:
        return self.id_store.path / ACTIVATIONS_STORE if self.id_store else None


def _cached(flag: bool) -> str:
    return " (cached)" if flag else ""


def stage_stimuli(config: StudyConfig, cache: Cache, log: StageLog,
                  image_format: ImageFormat) -> Entry:
    """Render or load the study's stimuli at ``image_format``, with their orientation energy
    maps (the entry holds ``STIMULI_STORE`` and ``ENERGY_MAPS``)."""
    from ..stimuli import folder_fingerprint, load_folder, save_stimuli, tafazoli
    from ..stimuli.properties import orientation_energy
    from ..stimuli.sets import TAFAZOLI_OBJECTS

    started = time.perf_counter()
    s = config.stimuli
    if s.set == "folder" and s.folder is None:
        raise ValueError("stimuli.set is 'folder' but stimuli.folder is not set.")
    files = folder_fingerprint(s.folder, s.metadata) if s.set == "folder" else None
    section = {k: v for k, v in section_dict(s).items() if k != "size"}
    key = stage_key("stimuli", config=section, format=asdict(image_format), files=files)
    cached = cache.has("stimuli", key)
    if not cached:
        with cache.writing("stimuli", key, {**section, "format": asdict(image_format)}) \
                as folder:
            if s.set == "tafazoli":
                stimuli = tafazoli(image_format.size, s.objects or TAFAZOLI_OBJECTS,
                                   field_deg=s.field_deg, supersample=s.supersample,
                                   progress=not log.quiet)
            else:
                stimuli = load_folder(s.folder, s.metadata, field_deg=s.field_deg,
                                      size=image_format.size,
                                      resize_size=image_format.resize_size,
                                      grayscale=s.grayscale,
                                      interpolation=image_format.interpolation)
            save_stimuli(stimuli, folder / STIMULI_STORE)
            np.save(folder / ENERGY_MAPS, orientation_energy(
                stimuli["images"].values, stimuli.attrs["deg_per_pixel"],
                ORIENTATION_WAVELENGTH_DEG))
    log.done("stimuli", f"{s.set} at {image_format.describe()}{_cached(cached)}", started)
    return cache.entry("stimuli", key)


def stage_bars(config: StudyConfig, cache: Cache, log: StageLog, size: int) -> Entry:
    """The RF-mapping bars on a ``size`` px image grid (``bars.zarr``)."""
    from ..stimuli import bars, save_stimuli

    started = time.perf_counter()
    s = config.stimuli
    key = stage_key("bars", size=size, field_deg=s.field_deg)
    cached = cache.has("bars", key)
    if not cached:
        with cache.writing("bars", key) as folder:
            save_stimuli(bars(size, field_deg=s.field_deg), folder / BARS_STORE)
    log.done("bars", f"RF-mapping bars at {size} px{_cached(cached)}", started)
    return cache.entry("bars", key)


def stage_id_points(config: StudyConfig, cache: Cache, log: StageLog, size: int) -> Entry:
    """Held-out renders of the training stream at ``size`` px (``points.zarr``), the points
    of the ID when ``dimension.points`` is 'training'."""
    from ..stimuli import Camera, TrainingStream, save_stimuli

    started = time.perf_counter()
    s, d = config.stimuli, config.dimension
    key = stage_key("id_points", size=size, field_deg=s.field_deg,
                    supersample=s.supersample, n_points=d.n_points, seed=config.seed)
    cached = cache.has("id_points", key)
    if not cached:
        with cache.writing("id_points", key) as folder:
            stream = TrainingStream(camera=Camera(size, s.field_deg, s.supersample),
                                    seed=config.seed, epoch_images=d.n_points)
            save_stimuli(stream.as_dataset(0, stream=1), folder / POINTS_STORE)
    log.done("id_points", f"{d.n_points} held-out training-stream renders at {size} px"
             f"{_cached(cached)}", started)
    return cache.entry("id_points", key)


def stage_folder_points(config: StudyConfig, cache: Cache, log: StageLog,
                        image_format: ImageFormat, gray: bool) -> Entry:
    """Every image of the ``dimension.points`` folder at ``image_format`` (``points.zarr``;
    luma for ``gray`` networks), the points of the ID."""
    from ..stimuli import save_stimuli
    from ..stimuli.folder import images_fingerprint, load_images

    started = time.perf_counter()
    folder = config.dimension.points_folder
    key = stage_key("id_points", folder=images_fingerprint(folder), format=asdict(image_format),
                    gray=gray, field_deg=config.stimuli.field_deg)
    cached = cache.has("id_points", key)
    if not cached:
        with cache.writing("id_points", key) as out:
            points = load_images(folder, size=image_format.size,
                                 resize_size=image_format.resize_size, grayscale=gray,
                                 interpolation=image_format.interpolation,
                                 field_deg=config.stimuli.field_deg)
            save_stimuli(points, out / POINTS_STORE)
    log.done("id_points", f"images of {folder} at {image_format.describe()}"
             f"{', luma' if gray else ''}{_cached(cached)}", started)
    return cache.entry("id_points", key)


@dataclass(frozen=True)
class InputEntries:
    """The image entries one network uses: the stimuli at its format, the ID points and the
    RF-mapping bars at its size (None when not used)."""

    stimuli: Entry
    id_points: Entry | None
    bars: Entry | None


def stage_inputs(config: StudyConfig, cache: Cache, log: StageLog,
                 inputs: dict[str, NetworkInput], made: dict[ImageFormat, Entry]
                 ) -> dict[str, InputEntries]:
    """Each network's image entries, every distinct format made once (``made``: stimulus
    entries already made, by format)."""
    stimuli, points, bar_sets = dict(made), {}, {}
    entries = {}
    for name, network_input in inputs.items():
        image_format = network_input.format
        if image_format not in stimuli:
            stimuli[image_format] = stage_stimuli(config, cache, log, image_format)
        size = image_format.size
        if config.dimension.points == "training":
            point_key = size
            if point_key not in points:
                points[point_key] = stage_id_points(config, cache, log, size)
        elif config.dimension.points_folder is not None:
            preprocessing = network_input.preprocessing
            point_key = (natural_image_format(config, preprocessing), preprocessing.channels == 1)
            if point_key not in points:
                points[point_key] = stage_folder_points(config, cache, log, *point_key)
        else:
            point_key = None
        if config.information.receptive_fields == "bars" and size not in bar_sets:
            bar_sets[size] = stage_bars(config, cache, log, size)
        entries[name] = InputEntries(stimuli[image_format], points.get(point_key),
                                     bar_sets.get(size))
    return entries


class _Models:
    """Loads each instance's model once, only when a stage needs it."""

    def __init__(self):
        self._loaded = {}

    def get(self, instance: Instance):
        from ..models import load_model

        key = (instance.network.name, instance.weights)
        network = instance.network
        if key not in self._loaded:
            self._loaded[key] = load_model(network.model, instance.weights,
                                           arguments=network.arguments,
                                           preprocessing=network.preprocessing)
        return self._loaded[key]


def stage_networks(config: StudyConfig, cache: Cache, log: StageLog, models: _Models,
                   inputs: dict[str, NetworkInput]) -> list[ResolvedNetwork]:
    """Resolve every (network, weights): weights identity, and the layers to analyse."""

    from ..activations import list_layers, resolve_layers
    from ..models.registry import model_fingerprint, weights_identity

    started = time.perf_counter()
    resolved = []
    for network in config.networks:
        shown = inputs[network.name]
        if shown.colour.startswith("gray images repeated"):
            log.say(f"{network.name}: {shown.colour} (the stimuli are gray)")
        for weights in network.weight_specs:
            instance = Instance(network, weights)
            identity = weights_identity(network.model, weights)
            key = stage_key("networks", model=network.model, weights=identity,
                            layers=network.layers, format=asdict(shown.format),
                            arguments=network.arguments, preprocessing=network.preprocessing,
                            code=model_fingerprint(network.model))
            if not cache.has("networks", key):
                model = models.get(instance)
                infos = resolve_layers(model, network.layers,
                                       list_layers(model, shown.format.size))
                with cache.writing("networks", key) as folder:
                    (folder / NETWORK_RECORD).write_text(json.dumps(
                        {**model.describe(), "weights_spec": weights,
                         "input": {**asdict(shown.format), "colour": shown.colour},
                         "layers": [i.name for i in infos],
                         "units": {i.name: i.n_units for i in infos}}, indent=1))
            record = json.loads((cache.path("networks", key) / NETWORK_RECORD).read_text())
            resolved.append(ResolvedNetwork(instance, key, identity, tuple(record["layers"]),
                                            record))
    log.done("networks", f"{len(resolved)} network instances", started)
    return resolved


def _bar_fits(model, layers, subsets: dict, bars_path: Path, batch_size: int,
              device: str | None) -> dict:
    """Gaussian fits of every subset unit's bar response map, per layer."""
    from ..activations import LayerTap, resolve_device, resolve_layers
    from ..analysis.receptive_fields import bar_response_maps, fit_gaussian
    from ..stimuli import load_stimuli

    bars = load_stimuli(bars_path)
    images = bars["images"].values
    tap = LayerTap(model, resolve_layers(model, list(layers)), resolve_device(device))
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


def _extract_entry(cache: Cache, stage: str, key: str, model_of, images_path: Path,
                   layers, config: StudyConfig, subset_size: int, log: StageLog) -> bool:
    """Write the activation store of one instance for one image set unless cached;
    returns whether it was computed."""
    from ..activations import extract_to_store
    from ..stimuli import load_stimuli

    if cache.has(stage, key):
        return False
    e = config.extraction
    with cache.writing(stage, key) as folder:
        extract_to_store(model_of(), load_stimuli(images_path), list(layers),
                         folder / ACTIVATIONS_STORE, batch_size=e.batch_size, device=e.device,
                         subset_size=subset_size, seed=config.seed, keep_full=False,
                         progress=not log.quiet)
    return True


def _receptive_fields(config: StudyConfig, cache: Cache, model_of, r: ResolvedNetwork,
                      store: Entry, stimuli: Entry, bars: Entry | None) -> tuple[Entry, bool]:
    """The RF entry of one instance (one ``LAYER.npz`` per layer: Gaussian fits of the bar
    maps, or gradient maps) and whether it was computed."""
    from ..activations import ActivationStore, resolve_device
    from ..analysis.receptive_fields import gradient_rf_maps
    from ..stimuli import load_stimuli

    method = config.information.receptive_fields
    # ``fit`` names what a bar-map fit records; entries from before the centre check lack it
    key = stage_key("receptive_fields", store=store.key, method=method,
                    bars=bars.key if bars else None, fit="r2 and centre inside the field")
    if cache.has("receptive_fields", key):
        return cache.entry("receptive_fields", key), False
    activations = ActivationStore(store.path / ACTIVATIONS_STORE)
    subsets = {layer: activations.subset_units(layer) for layer in r.layers}
    model, e = model_of(), config.extraction
    with cache.writing("receptive_fields", key) as folder:
        if method == "bars":
            fits = _bar_fits(model, r.layers, subsets, bars.path / BARS_STORE, e.batch_size,
                             e.device)
            for layer, fit in fits.items():
                np.savez(folder / f"{layer}.npz", **fit)
        else:
            images = load_stimuli(stimuli.path / STIMULI_STORE)["images"].values
            for layer in r.layers:
                maps = gradient_rf_maps(model, layer, subsets[layer], images,
                                        device=resolve_device(e.device))
                np.savez(folder / f"{layer}.npz", maps=maps.astype(np.float32))
    return cache.entry("receptive_fields", key), True


def stage_extract(config: StudyConfig, cache: Cache, log: StageLog, models: _Models,
                  resolved: list[ResolvedNetwork], entries: dict[str, InputEntries]
                  ) -> list[Extracted]:
    """Per instance: activations (unit subset + exact Gram) of the study stimuli at the
    network's format, of the ID points when separate, and the units' receptive fields."""
    started = time.perf_counter()
    e, info = config.extraction, config.information
    n_new, extracted = 0, []
    for r in resolved:
        def model_of(instance=r.instance):
            return models.get(instance)

        mine = entries[r.instance.network.name]
        stimuli, id_points, bars = mine.stimuli, mine.id_points, mine.bars

        store_key = stage_key("extract", network=r.key, stimuli=stimuli.key,
                              batch_size=e.batch_size, units=info.units_per_layer,
                              seed=config.seed)
        n_new += _extract_entry(cache, "extract", store_key, model_of,
                                stimuli.path / STIMULI_STORE, r.layers, config,
                                info.units_per_layer, log)
        id_store = None
        if id_points is not None:
            id_key = stage_key("extract_id", network=r.key, points=id_points.key,
                               batch_size=e.batch_size)
            n_new += _extract_entry(cache, "extract_id", id_key, model_of,
                                    id_points.path / POINTS_STORE, r.layers, config, 0, log)
            id_store = cache.entry("extract_id", id_key)
        store = cache.entry("extract", store_key)
        rf = None
        if info.receptive_fields != "full_field":
            rf, computed = _receptive_fields(config, cache, model_of, r, store, stimuli, bars)
            n_new += computed
        extracted.append(Extracted(r, stimuli, store, id_store, rf))
    log.done("extract", f"{len(resolved)} instances, {n_new} new entries "
             f"(activations, receptive fields)", started)
    return extracted


def build_tasks(config: StudyConfig, cache: Cache, extracted: list[Extracted]) -> list[Task]:
    """One task per (instance, layer, analysis kind), each with its own cache key."""
    from ..activations import ActivationStore

    dimension = config.dimension.options()
    information = config.information.options()
    decoding = config.decoding.options()
    # alpha only enters the phases (a summary), so changing it recomputes no ID
    dimension_key = {k: v for k, v in plain(dimension).items() if k != "alpha"}
    tasks = []
    for x in extracted:
        stimuli = x.stimuli
        stimuli_zarr = str(stimuli.path / STIMULI_STORE)
        store = ActivationStore(x.store_path)
        for index, layer in enumerate(x.network.layers):
            n_units = len(store.subset_units(layer))
            common = dict(network=x.network.instance.network.name,
                          weights=x.network.instance.weights, layer=layer, layer_index=index,
                          cache_root=str(cache.root), seed=config.seed)
            id_store = x.id_store or x.store
            # the identity is in every key: entries hold tables with the identity columns
            ident = {k: common[k] for k in ("network", "weights", "layer", "layer_index")}
            tasks.append(Task(
                kind="dimension", key=stage_key("analyse_dimension", store=id_store.key,
                                                options=dimension_key, seed=config.seed,
                                                **ident),
                inputs={"store": str(x.store_path),
                        "id_store": str(x.id_store_path) if x.id_store else ""},
                options={"dimension": dimension}, cost=1.0, **common))
            tasks.append(Task(
                kind="information", key=stage_key(
                    "analyse_information", store=x.store.key, rf=x.rf.key if x.rf else "",
                    stimuli=stimuli.key, options=information, n_units=n_units,
                    seed=config.seed, columns="with I_S_is_entropy and bias_correction",
                    **ident),
                inputs={"store": str(x.store_path), "stimuli": stimuli_zarr,
                        "energy": str(stimuli.path / ENERGY_MAPS),
                        "rf": str(x.rf.path) if x.rf else ""},
                options={"information": information}, n_units=n_units,
                cost=3.0 * n_units / 500, **common))
            if decoding.enabled:
                tasks.append(Task(
                    kind="decoding", key=stage_key(
                        "analyse_decoding", store=x.store.key, stimuli=stimuli.key,
                        options=decoding, seed=config.seed, single_units="evenly spaced",
                        **ident),
                    inputs={"store": str(x.store_path), "stimuli": stimuli_zarr},
                    options={"decoding": decoding}, cost=2.0, **common))
    return tasks


def stage_analyse(config: StudyConfig, cache: Cache, log: StageLog, tasks: list[Task],
                  scheduler: str | None = None) -> None:
    """Run every analysis task not yet in the cache, where the executor section says."""
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


UNTIL = ("extract", "analyse", "report")


def run_study(config: StudyConfig, *, quiet: bool = False, scheduler: str | None = None,
              until: str = "report", report_only: bool = False) -> Path:
    """Run the study up to ``until`` ("extract", "analyse" or "report"); returns the output
    folder (the report is in ``OUTPUT/report``). ``report_only``: build the report from
    analyses already in the cache, and fail naming the first missing stage otherwise.
    ``scheduler``: a Dask scheduler address (or ``distributed.Client``) for the analyses."""
    if until not in UNTIL:
        raise ValueError(f"until must be one of {UNTIL}; got {until!r}.")
    output = Path(config.output)
    log = StageLog(quiet)
    with output_lock(output):
        _run_stages(config, output, log, scheduler=scheduler, until=until,
                    report_only=report_only)
    return output


def _run_stages(config: StudyConfig, output: Path, log: StageLog, *, scheduler, until: str,
                report_only: bool) -> None:
    cache = Cache(output.resolve() / "cache", read_only=report_only, writable=("report",))
    total = time.perf_counter()
    models = _Models()
    inputs = network_inputs(config)  # impossible combinations fail here, before any work
    made = {}
    if config.neural.datasets:  # recordings responded to the set at stimuli.size
        made[base_format(config)] = stage_stimuli(config, cache, log, base_format(config))
        check_recordings(config, made[base_format(config)])
    resolved = stage_networks(config, cache, log, models, inputs)
    entries = stage_inputs(config, cache, log, inputs, made)
    # the report's montage: the set the recordings saw, else the first network's
    stimuli = made.get(base_format(config)) or next(iter(entries.values())).stimuli
    extracted = stage_extract(config, cache, log, models, resolved, entries)
    if until == "extract":
        return
    tasks = build_tasks(config, cache, extracted)
    stage_analyse(config, cache, log, tasks, scheduler)
    recorded = stage_neural(config, cache, log, stimuli, scheduler)  # recorded areas, if any
    if until == "analyse":
        return
    stage_report(config, cache, log, extracted, tasks, stimuli, recorded, environment())
    log.say(f"done in {time.perf_counter() - total:.1f} s -> "
            f"{output / 'report' / 'report.html'}")
