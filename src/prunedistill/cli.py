"""Command-line interface: parses arguments and calls the library; no analysis here.

Every command reports failure the same way: one line ``error: ...`` on stderr naming the
problem and the fix, exit status 2 (``--debug`` shows the traceback instead). Options that
several commands share come from parent parsers.
"""

from __future__ import annotations

import argparse
import errno
import json
import re
import signal
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np

from . import __version__
from ._memory import retain_freed_memory
from ._validation import PrunedistillError

# Errors a user's input can cause; anything else is a bug and keeps its traceback.
USER_ERRORS = (PrunedistillError, ValueError, FileNotFoundError, ImportError)
RAW = argparse.RawDescriptionHelpFormatter


def _load_points(path: Path) -> np.ndarray:
    if not path.exists():
        raise PrunedistillError(f"{path} does not exist.")
    if path.suffix not in (".npy", ".npz"):
        raise PrunedistillError(f"{path} must be a .npy or .npz file of shape "
                                "(points, features).")
    try:
        if path.suffix == ".npy":
            points = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as archive:
                if len(archive.files) != 1:
                    raise PrunedistillError(f"{path} holds arrays {archive.files}; save "
                                            "exactly one (points, features).")
                points = archive[archive.files[0]]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise PrunedistillError(f"cannot read {path}: {error}. Save a numeric array with "
                                "numpy.save (no objects, no pickles).") from None
    if not np.issubdtype(points.dtype, np.number) or np.issubdtype(points.dtype,
                                                                    np.complexfloating):
        raise PrunedistillError(f"{path} holds {points.dtype} values; the points must be "
                                "real numbers (points, features).")
    return points


def command_id(args: argparse.Namespace) -> int:
    from ._io import write_text
    from .dimension import twonn_resampled, twonn_scale

    points = _load_points(Path(args.points))
    if points.ndim > 2:
        points = points.reshape(points.shape[0], -1)
    resampled = twonn_resampled(points, fraction=args.fraction, repeats=args.repeats,
                                seed=args.seed)
    scale = twonn_scale(points, fraction=args.fraction, seed=args.seed) if args.scale else None
    full = resampled.full
    report = {
        "points": args.points, "n_points": full.n_points,
        "n_duplicates_dropped": full.n_duplicates, "n_degenerate_dropped": full.n_degenerate,
        "id_twonn": full.dimension, "id_mle": full.dimension_mle,
        "mle_standard_error": full.mle_standard_error, "resampled_mean": resampled.mean,
        "resampled_std": resampled.std, "resampled_subset_points": resampled.n_points_subset,
        "repeats": args.repeats, "fraction": args.fraction, "seed": args.seed,
    }
    if scale is not None:
        report["scale"] = scale.to_dict(orient="records")
    print(f"TwoNN ID {full.dimension:.3f} (MLE {full.dimension_mle:.3f} +- "
          f"{full.mle_standard_error:.3f}); over {args.repeats} subsets of "
          f"{resampled.n_points_subset} points: {resampled.mean:.3f} +- {resampled.std:.3f}; "
          f"{full.n_duplicates} duplicate and {full.n_degenerate} degenerate points dropped")
    if scale is not None:
        print(scale.to_string(index=False))
    if args.out:
        write_text(args.out, json.dumps(report, indent=2))
        print(f"written: {args.out}")
    return 0


def _stimulus_format(args: argparse.Namespace) -> None:
    """Fill --size (and for folders --resize-size) from --for MODEL, else the defaults."""
    if args.for_model:
        from .models import preprocessing_of

        shown = preprocessing_of(args.for_model)
        if args.size is not None and shown.input_size not in (None, args.size):
            raise PrunedistillError(f"--size {args.size} contradicts --for {args.for_model}, "
                                    f"which takes {shown.input_size} px; give one of them.")
        args.size = args.size or shown.input_size
        if args.set == "folder" and args.resize_size is None:
            args.resize_size = shown.resize_size
        args.interpolation = shown.interpolation
    if args.size is None and args.set != "folder":
        args.size = 64


def command_stimuli(args: argparse.Namespace) -> int:
    from . import stimuli

    args.interpolation = "bilinear"
    _stimulus_format(args)
    if args.set == "tafazoli":
        objects = args.objects.split(",") if args.objects else stimuli.TAFAZOLI_OBJECTS
        dataset = stimuli.tafazoli(args.size, objects, field_deg=args.field_deg,
                                   progress=not args.quiet)
    elif args.set == "bars":
        dataset = stimuli.bars(args.size, field_deg=args.field_deg)
    elif args.set == "training":
        stream = stimuli.TrainingStream(
            args.objects_count, camera=stimuli.Camera(args.size, args.field_deg),
            seed=args.seed, epoch_images=args.n)
        dataset = stream.as_dataset(epoch=0)
    else:
        if not args.folder:
            raise PrunedistillError("--set folder needs --folder DIR (and a metadata CSV).")
        dataset = stimuli.load_folder(args.folder, args.metadata, field_deg=args.field_deg,
                                      size=args.size, resize_size=args.resize_size,
                                      grayscale=args.grayscale,
                                      interpolation=args.interpolation)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = stimuli.save_stimuli(dataset, out / f"{args.set}.zarr")
    picture = stimuli.save_montage(dataset, out / f"{args.set}_montage.png")
    print(f"{dataset.sizes['stimulus']} stimuli of {dataset.attrs['image_size']} px "
          f"({dataset.attrs['deg_per_pixel']:.4g} deg/px) -> {store}, {picture}")
    return 0


def command_layers(args: argparse.Namespace) -> int:
    from .activations import PRESETS, checkpoint_rule, list_layers, resolve_layers
    from .models import load_model

    model = load_model(args.model, args.weights)
    layers = list_layers(model, input_size=args.size)
    width = max(len(layer.name) for layer in layers)
    print(f"{'layer':<{width}}  {'type':<18} {'output shape':<16} {'units':>10}")
    for layer in layers:
        note = f"  (runs {layer.calls}x; the last output is used)" if layer.calls > 1 else ""
        print(f"{layer.name:<{width}}  {layer.kind:<18} {str(layer.shape):<16} "
              f"{layer.n_units:>10,}{note}")
    for preset in PRESETS:
        names = [layer.name for layer in resolve_layers(model, preset, layers)]
        print(f"\npreset {preset} ({len(names)} layers): {', '.join(names)}")
    print(f"\ncheckpoints rule: {checkpoint_rule(model, layers)}")
    shown = model.preprocessing
    size = "any size" if shown.input_size is None else f"{shown.input_size} px"
    resize = f", natural images resized to {shown.resize_size} then centre-cropped" \
        if shown.resize_size not in (None, shown.input_size) else ""
    print(f"input: {size}{resize}, {'RGB' if shown.channels == 3 else 'gray'}, mean "
          f"{list(shown.mean)}, std {list(shown.std)} ({shown.source})")
    return 0


def command_extract(args: argparse.Namespace) -> int:
    from .activations import PRESETS, ActivationStore, extract_to_store
    from .models import load_model
    from .stimuli import load_stimuli

    model = load_model(args.model, args.weights)
    stimuli = load_stimuli(args.stimuli)
    layers = args.layers if args.layers in PRESETS else args.layers.split(",")
    path = extract_to_store(model, stimuli, layers, Path(args.out), batch_size=args.batch_size,
                            device=args.device, subset_size=args.subset, seed=args.seed,
                            keep_full=not args.no_full, progress=not args.quiet)
    store = ActivationStore(path)
    print(f"{len(store.layers)} layers of {args.model} ({model.weights}) for "
          f"{store.attrs['n_stimuli']} stimuli -> {path}")
    return 0


def command_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .models.registry import EMBEDDED_RECORD
    from .models.training import TrainingConfig, recorded_config, train_embedded

    config = recorded_config(EMBEDDED_RECORD) if args.recorded else TrainingConfig()
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed),
                                   ("n_objects", args.objects),
                                   ("epoch_images", args.epoch_images)) if v is not None}
    config = replace(config, **overrides)
    _, record = train_embedded(config, out_dir=Path(args.out), progress=not args.quiet)
    print(f"held-out top-1 {record['held_out_accuracy']:.3f} after "
          f"{record['training_seconds']:.0f} s -> {Path(args.out) / 'embedded_cnn.pt'}")
    return 0


def _study_config(args: argparse.Namespace):
    """The config named on the command line (default: the shipped default study) with the
    command-line overrides applied."""
    from .config import default_config, load_config

    config = load_config(args.config) if args.config else default_config()
    updates = {}
    if args.output:
        updates["output"] = args.output
    if args.workers is not None:
        updates["executor"] = config.executor.model_copy(update={"workers": args.workers})
    return config.model_copy(update=updates) if updates else config


def command_run(args: argparse.Namespace) -> int:
    from .pipeline import run_study

    until = {"run": "report", "analyse": "analyse", "report": "report"}[args.command]
    run_study(_study_config(args), quiet=args.quiet, until=until,
              scheduler=getattr(args, "scheduler", None), report_only=args.command == "report")
    return 0


def command_init(args: argparse.Namespace) -> int:
    from ._io import write_text
    from .config import study_text

    path = Path(args.path) if args.path else Path(f"{args.study}.yaml" if args.study !=
                                                  "default" else "study.yaml")
    if path.exists() and not args.force:
        raise PrunedistillError(f"{path} exists; pass --force to overwrite it.")
    write_text(path, study_text(args.study))
    print(f"wrote the {args.study} study to {path}; edit it, then `prunedistill run {path}`.")
    return 0


TAFAZOLI_ID = re.compile(r".+/v\d+")


def _neural_stimuli(args: argparse.Namespace, ids=None):
    """The stimulus set named by --stimuli; else the tafazoli set rendered at --size when
    the recorded ids are tafazoli ids (or for simulation); else None: the recording's own
    stimulus table."""
    from .stimuli import load_stimuli, tafazoli

    if args.stimuli:
        return load_stimuli(args.stimuli)
    if ids is None or all(TAFAZOLI_ID.fullmatch(str(i)) for i in ids):
        return tafazoli(args.size, progress=not args.quiet)
    return None


def _nwb_options(args: argparse.Namespace):
    from .neural.nwb import NWBOptions

    return NWBOptions(intervals=args.intervals, stimulus_column=args.stimulus_column,
                      object_column=args.object_column, area_column=args.area_column,
                      window_ms=args.window_ms,
                      latency=args.latency, drop_unassigned=args.drop_unassigned)


def _latency(text: str):
    if text == "estimated":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("use 'estimated' or a latency in ms") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a latency is >= 0 ms")
    return value


def command_neural_info(args: argparse.Namespace) -> int:
    from .neural import areas_in_order
    from .neural.io import load_responses

    ds = load_responses(args.file, nwb=_nwb_options(args))
    valid = np.isfinite(ds["counts"].values)
    print(f"{args.file}: {ds.sizes['neuron']} neurons, {ds.sizes['stimulus']} stimuli, up to "
          f"{ds.sizes['trial']} trials{'  [SYNTHETIC]' if ds.attrs.get('synthetic') else ''}")
    print(f"area order: {' -> '.join(ds.attrs['area_order'])}; RF maps: "
          f"{'yes' if 'rf_map' in ds else 'no'}")
    width = max(8, *(len(a) for a in areas_in_order(ds)))
    print(f"{'area':<{width}} {'neurons':>8} {'animals':>8} {'sessions':>9} "
          f"{'trials/stimulus (median, min-max)':>34} {'missing':>8}")
    for area in areas_in_order(ds):
        members = ds["area"].values == area
        trials = valid[members].sum(axis=2)
        missing = 1 - valid[members].mean()
        print(f"{area:<{width}} {members.sum():>8} {len(set(ds['animal'].values[members])):>8} "
              f"{len(set(ds['session'].values[members])):>9} "
              f"{f'{np.median(trials):.0f} ({trials.min()}-{trials.max()})':>34} "
              f"{missing:>8.1%}")
    if "latency_ms" in ds.coords:
        latency, significant = ds["latency_ms"].values, ds["latency_significant"].values
        if significant.any():
            accepted = latency[significant]
            print(f"latency: {int(significant.sum())} of {len(latency)} neurons respond "
                  f"significantly, median {np.median(accepted):.0f} ms (range "
                  f"{accepted.min():.0f}-{accepted.max():.0f}); the others are counted from "
                  f"{np.median(latency[~significant]) if (~significant).any() else 0:.0f} ms")
        else:
            print(f"latency: no neuron responds significantly to these onsets; all are "
                  f"counted from {latency[0]:.0f} ms (fixed or fallback)")
    return 0


def command_neural_convert(args: argparse.Namespace) -> int:
    from .neural.io import load_responses, save_responses

    ds = load_responses(args.file, nwb=_nwb_options(args))
    save_responses(ds, args.out)
    print(f"{ds.sizes['neuron']} neurons x {ds.sizes['stimulus']} stimuli -> {args.out}")
    return 0


def command_neural_simulate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .neural import RAT_LIKE, simulate_population
    from .neural.io import WRITABLE_SUFFIXES, save_responses

    out = Path(args.out)
    if out.suffix not in WRITABLE_SUFFIXES:  # before the minutes of simulation
        raise PrunedistillError("--out must end in .nc (brain-score netCDF) or .npz.")
    areas = [replace(a, n_neurons=max(2, round(a.n_neurons * args.neuron_scale)))
             for a in RAT_LIKE]
    ds, planted = simulate_population(_neural_stimuli(args), areas, n_trials=args.trials,
                                      seed=args.seed)
    save_responses(ds, out)
    planted_path = out.with_name(out.stem + "_planted.csv")
    planted.to_csv(planted_path, index=False)
    print(f"SYNTHETIC population: {ds.sizes['neuron']} neurons in "
          f"{', '.join(ds.attrs['area_order'])}, {args.trials} trials -> {out}; planted "
          f"parameters -> {planted_path}")
    return 0


def command_neural_report(args: argparse.Namespace) -> int:
    from .config import default_config, load_config
    from .neural.io import load_responses
    from .pipeline.log import environment
    from .pipeline.recordings import report_recording

    config = load_config(args.config) if args.config else default_config()
    nwb = _nwb_options(args)
    ids = load_responses(args.file, nwb=nwb)["stimulus_id"].values
    page = report_recording(args.file, args.out, config=config, nwb=nwb,
                            stimuli=_neural_stimuli(args, ids), environment=environment())
    print(f"report -> {page}")
    return 0


# -- the parser --------------------------------------------------------------------------

def _parents() -> dict[str, argparse.ArgumentParser]:
    """The option groups that several commands share."""
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("--quiet", action="store_true", help="no progress bars or stage lines")
    study = argparse.ArgumentParser(add_help=False)
    study.add_argument("config", nargs="?", help="study YAML (default: the shipped default "
                       "study; `prunedistill init` writes it out)")
    study.add_argument("--output", help="output folder (overrides `output` in the config)")
    study.add_argument("--workers", type=int, help="local worker processes for the analyses")
    scheduler = argparse.ArgumentParser(add_help=False)
    scheduler.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT: run "
                           "the per-layer analyses on that cluster")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("model", help="embedded, a torchvision name (vgg16, resnet50, ...) or "
                       "package.module:factory")
    model.add_argument("--weights", default="untrained:0",
                       help="untrained:<seed> (default untrained:0), trained, or a file")
    stimuli = argparse.ArgumentParser(add_help=False)
    stimuli.add_argument("--stimuli", help="the stimulus set (.zarr from `prunedistill "
                         "stimuli`); default: the tafazoli set rendered at --size when the "
                         "recorded ids are OBJECT/vVIEW, else the recording's own stimulus "
                         "table")
    stimuli.add_argument("--size", type=int, default=64, help="rendered stimulus size")
    nwb = argparse.ArgumentParser(add_help=False)
    group = nwb.add_argument_group("NWB files")
    group.add_argument("--intervals", default="trials", help="the presentation table: "
                       "trials (default) or a TimeIntervals table name")
    group.add_argument("--stimulus-column", default="stimulus_id",
                       help="its column naming the stimulus (default stimulus_id)")
    group.add_argument("--object-column", help="its column naming each stimulus's object "
                       "or category (default: each stimulus is its own class)")
    group.add_argument("--area-column", help="the units' area column (default: area, "
                       "location or brain_area, else electrodes.location)")
    group.add_argument("--window-ms", type=float, default=150.0,
                       help="spike-count window after the latency (default 150)")
    group.add_argument("--latency", type=_latency, default="estimated",
                       help="'estimated' per neuron (default) or a fixed latency in ms")
    group.add_argument("--drop-unassigned", action="store_true",
                       help="drop units that have no area")
    return {"quiet": quiet, "study": study, "scheduler": scheduler, "model": model,
            "stimuli": stimuli, "nwb": nwb}


RUN_EXAMPLE = """examples:
  prunedistill run                          # the default study -> results/default/report/
  prunedistill init my_study.yaml && prunedistill run my_study.yaml
  prunedistill run my_study.yaml --scheduler tcp://10.0.0.5:8786   # analyses on Dask
Stages already computed (same config section and inputs) are skipped, so an interrupted
run resumes where it stopped.
"""


def _add_study_commands(sub, p) -> None:
    run = sub.add_parser("run", help="run a study: stimuli -> networks -> extract -> analyse "
                         "-> report", epilog=RUN_EXAMPLE, formatter_class=RAW,
                         parents=[p["study"], p["scheduler"], p["quiet"]])
    run.set_defaults(func=command_run)
    analyse = sub.add_parser("analyse", help="run a study up to the analyses (no report)",
                             epilog="example:\n  prunedistill analyse my_study.yaml "
                             "--workers 4", formatter_class=RAW,
                             parents=[p["study"], p["scheduler"], p["quiet"]])
    analyse.set_defaults(func=command_run)
    report = sub.add_parser("report", help="build the report from analyses already computed",
                            epilog="example:\n  prunedistill report my_study.yaml   "
                            "# after `prunedistill analyse my_study.yaml`",
                            formatter_class=RAW, parents=[p["study"], p["quiet"]])
    report.set_defaults(func=command_run)
    init = sub.add_parser("init", help="write a shipped study config for editing",
                          epilog="examples:\n  prunedistill init my_study.yaml\n"
                          "  prunedistill init --study imagenet    # writes imagenet.yaml",
                          formatter_class=RAW)
    init.add_argument("path", nargs="?",
                      help="where to write it (default study.yaml; imagenet.yaml for "
                      "--study imagenet)")
    from .config import STUDIES

    init.add_argument("--study", choices=list(STUDIES), default="default",
                      help="default: the embedded CNN (3 trained instances) vs 3 untrained "
                      "seeds, minutes; imagenet: EfficientNet-Lite0 (ImageNet) vs 3 "
                      "untrained seeds at 224 px")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=command_init)


def _add_id_command(sub) -> None:
    parser = sub.add_parser(
        "id", help="TwoNN intrinsic dimension of a point cloud saved as .npy",
        epilog="example:\n  prunedistill id layer.npy --repeats 50 --scale --out id.json\n"
               "  (layer.npy holds an array of shape (points, features), e.g. one row per "
               "stimulus)", formatter_class=RAW)
    parser.add_argument("points", help=".npy/.npz array (points, features...)")
    parser.add_argument("--fraction", type=float, default=0.9,
                        help="fraction of the smallest mu in the fit (default 0.9)")
    parser.add_argument("--repeats", type=int, default=50,
                        help="random 90%% subsets for the error bar (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsets (default 0)")
    parser.add_argument("--scale", action="store_true",
                        help="also run the scale analysis (1..20 blocks)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.set_defaults(func=command_id)


def _add_stimuli_command(sub, p) -> None:
    parser = sub.add_parser(
        "stimuli", help="render or load a stimulus set; write it (zarr) and a montage (PNG)",
        epilog="examples:\n  prunedistill stimuli --set tafazoli --out stimuli/\n"
               "  prunedistill stimuli --set tafazoli --for vgg16 --out stimuli224/\n"
               "  prunedistill stimuli --set training --n 200 --out stimuli/\n"
               "  prunedistill stimuli --set folder --folder my_images/ --out stimuli/",
        formatter_class=RAW, parents=[p["quiet"]])
    parser.add_argument("--set", choices=["tafazoli", "bars", "training", "folder"],
                        default="tafazoli", help="which set (default tafazoli)")
    parser.add_argument("--size", type=int,
                        help="image size in pixels (default 64, the embedded CNN's; folder: "
                        "each image resized and centre-cropped to it, default as they are)")
    parser.add_argument("--for", dest="for_model", metavar="MODEL",
                        help="make the set as MODEL expects it (size, resize, interpolation), "
                        "e.g. --for vgg16")
    parser.add_argument("--field-deg", type=float, default=120.0,
                        help="visual angle spanned by the image width (default 120)")
    parser.add_argument("--objects", help="tafazoli: comma-separated mesh names (default: the "
                        "6 natural + 4 procedural reference objects)")
    parser.add_argument("--n", type=int, default=200, help="training: number of images")
    parser.add_argument("--objects-count", type=int, default=50,
                        help="training: number of objects (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="training: stream seed")
    parser.add_argument("--folder", help="folder: the image folder")
    parser.add_argument("--metadata", help="folder: the CSV (default FOLDER/metadata.csv)")
    parser.add_argument("--resize-size", type=int,
                        help="folder: resize the shorter side to this before the centre crop "
                        "to --size (default --size)")
    parser.add_argument("--grayscale", action="store_true",
                        help="folder: convert colour images to luma (BT.601)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.set_defaults(func=command_stimuli)


def _add_network_commands(sub, p) -> None:
    layers = sub.add_parser("layers", help="list a model's layers, output shapes and presets",
                            epilog="examples:\n  prunedistill layers embedded\n"
                            "  prunedistill layers resnet50 --weights resnet50-0676ba61.pth",
                            formatter_class=RAW, parents=[p["model"]])
    layers.add_argument("--size", type=int, help="input size for models that accept any")
    layers.set_defaults(func=command_layers)
    extract = sub.add_parser(
        "extract", help="extract layer activations of a stimulus set to a zarr store (full "
        "layers, a unit subset, exact Gram matrices)",
        epilog="example:\n  prunedistill stimuli --set tafazoli --size 224 --out stim/\n"
               "  prunedistill extract vgg16 --weights untrained:0 --stimuli "
               "stim/tafazoli.zarr --out vgg16.zarr", formatter_class=RAW,
        parents=[p["model"], p["quiet"]])
    extract.add_argument("--stimuli", required=True, help="a store from `prunedistill stimuli`")
    extract.add_argument("--layers", default="checkpoints",
                         help="checkpoints (default), all, or comma-separated layer names")
    extract.add_argument("--out", required=True, help="output store (.zarr)")
    extract.add_argument("--batch-size", type=int, default=32)
    extract.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    extract.add_argument("--subset", type=int, default=2000,
                         help="units kept per layer for single-unit analyses (default 2000)")
    extract.add_argument("--seed", type=int, default=0, help="seed of the unit subset")
    extract.add_argument("--no-full", action="store_true",
                         help="do not keep the full activations (only subset + Gram)")
    extract.set_defaults(func=command_extract)
    train = sub.add_parser("train", help="train the embedded CNN on the rendered training stream",
                           epilog="examples:\n  prunedistill train --out my_weights/\n"
                           "  prunedistill train --recorded --out check/   # rerun the "
                           "committed model's config", formatter_class=RAW,
                           parents=[p["quiet"]])
    train.add_argument("--out", required=True, help="folder for embedded_cnn.pt and .json")
    train.add_argument("--recorded", action="store_true",
                       help="use the committed model's recorded training config")
    train.add_argument("--epochs", type=int)
    train.add_argument("--epoch-images", type=int,
                       help="fresh renders per epoch (default 10,000)")
    train.add_argument("--objects", type=int, help="number of training objects (default 50)")
    train.add_argument("--seed", type=int)
    train.set_defaults(func=command_train)


def _add_neural_commands(sub, p) -> None:
    neural = sub.add_parser("neural", help="recorded (or simulated) responses: info, convert, "
                            "simulate, report", epilog="examples:\n  prunedistill neural "
                            "simulate --out sim.nc\n  prunedistill neural info sim.nc\n  "
                            "prunedistill neural report sim.nc --out sim_report/",
                            formatter_class=RAW)
    neural_sub = neural.add_subparsers(dest="neural_command", required=True)
    info = neural_sub.add_parser(
        "info", help="per-area summary of a .npz/.nc/.nwb file",
        epilog="examples:\n  prunedistill neural info rat.nc\n  prunedistill neural info "
        "session.nwb --intervals encoding_table --stimulus-column stimCategory",
        formatter_class=RAW, parents=[p["nwb"]])
    info.add_argument("file")
    info.set_defaults(func=command_neural_info)
    convert = neural_sub.add_parser(
        "convert", help="convert between .nwb, .nc (brain-score netCDF) and .npz",
        epilog="example:\n  prunedistill neural convert session1.nwb session1.nc",
        formatter_class=RAW, parents=[p["nwb"]])
    convert.add_argument("file")
    convert.add_argument("out", help="output .nc or .npz")
    convert.set_defaults(func=command_neural_convert)
    simulate = neural_sub.add_parser(
        "simulate", help="a planted-truth rat-like population (4 areas, Poisson trials)",
        epilog="example:\n  prunedistill neural simulate --out sim.nc --seed 1\n"
        "(the planted parameters go to sim_planted.csv)", formatter_class=RAW,
        parents=[p["stimuli"], p["quiet"]])
    simulate.add_argument("--out", required=True, help="output .nc or .npz")
    simulate.add_argument("--trials", type=int, default=26)
    simulate.add_argument("--neuron-scale", type=float, default=1.0,
                          help="scale the rat-like neuron counts (228/131/260/152)")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.set_defaults(func=command_neural_simulate)
    report = neural_sub.add_parser(
        "report", help="per-area ID, information and decoding report of one dataset",
        epilog="example:\n  prunedistill neural report rat.nc --stimuli stim/tafazoli.zarr "
        "--out rat_report/", formatter_class=RAW,
        parents=[p["stimuli"], p["nwb"], p["quiet"]])
    report.add_argument("file")
    report.add_argument("--out", required=True, help="report folder (new, or a report "
                        "written before)")
    report.add_argument("--config", help="study YAML whose information/neural/decoding "
                        "options to use (default: the default study's)")
    report.set_defaults(func=command_neural_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prunedistill",
        description="How a visual hierarchy reformats image information: intrinsic dimension "
        "and single-unit information, in deep networks and visual cortex.")
    parser.add_argument("--version", action="version", version=f"prunedistill {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)
    parents = _parents()
    _add_study_commands(sub, parents)
    _add_id_command(sub)
    _add_stimuli_command(sub, parents)
    _add_network_commands(sub, parents)
    _add_neural_commands(sub, parents)
    return parser


def _terminate(signum, frame) -> None:
    """SIGTERM (a Slurm time limit, `kill`) ends the command like Ctrl-C: every atomic
    writer removes its temporary files on the way out."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    retain_freed_memory()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the disk or the file system said no
        if args.debug:
            raise
        print(f"error: {os_error_message(error)}", file=sys.stderr)
        return 2


def os_error_message(error: OSError) -> str:
    """One line for a failed read or write: what, where and the usual fix."""
    where = f" ({error.filename})" if error.filename else ""
    fixes = {errno.ENOSPC: "free some space or choose another output folder (--output)",
             errno.EACCES: "check the folder's permissions or choose another output folder",
             errno.EROFS: "the file system is read-only; choose another output folder",
             errno.EDQUOT: "the disk quota is full; free some space"}
    fix = fixes.get(error.errno, "check the path and the disk")
    return f"{error.strerror or error}{where}; {fix}."


if __name__ == "__main__":
    sys.exit(main())
