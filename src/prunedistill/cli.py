"""Command-line interface: parses arguments and calls the library; no analysis here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__

RUN_NOT_AVAILABLE = (
    "prunedistill run: the study pipeline (stimuli -> networks -> analyses -> report) is not "
    "available yet.\nWhat works today: `prunedistill id POINTS.npy` and the Python API "
    "(prunedistill.dimension, prunedistill.information); see README.md."
)

ID_EXAMPLE = """example:
  prunedistill id layer.npy --repeats 50 --scale --out id.json
  (layer.npy holds an array of shape (points, features), e.g. one row per stimulus)
"""


def _load_points(path: Path) -> np.ndarray:
    if not path.exists():
        raise SystemExit(f"error: {path} does not exist.")
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            if len(archive.files) != 1:
                raise SystemExit(
                    f"error: {path} holds arrays {archive.files}; save exactly one (points, features)."
                )
            return archive[archive.files[0]]
    raise SystemExit(f"error: {path} must be a .npy or .npz file of shape (points, features).")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def command_id(args: argparse.Namespace) -> int:
    from .dimension import twonn_resampled, twonn_scale

    points = _load_points(Path(args.points))
    if points.ndim > 2:
        points = points.reshape(points.shape[0], -1)
    try:
        resampled = twonn_resampled(points, fraction=args.fraction, repeats=args.repeats,
                                    seed=args.seed)
        scale = twonn_scale(points, fraction=args.fraction, seed=args.seed) if args.scale else None
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    full = resampled.full
    report = {
        "points": args.points,
        "n_points": full.n_points,
        "n_duplicates_dropped": full.n_duplicates,
        "n_degenerate_dropped": full.n_degenerate,
        "id_twonn": full.dimension,
        "id_mle": full.dimension_mle,
        "mle_standard_error": full.mle_standard_error,
        "resampled_mean": resampled.mean,
        "resampled_std": resampled.std,
        "resampled_subset_points": resampled.n_points_subset,
        "repeats": args.repeats,
        "fraction": args.fraction,
        "seed": args.seed,
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
        _write_atomically(Path(args.out), json.dumps(report, indent=2))
        print(f"written: {args.out}")
    return 0


def command_stimuli(args: argparse.Namespace) -> int:
    from . import stimuli

    out = Path(args.out)
    try:
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
                raise SystemExit("error: --set folder needs --folder DIR (and a metadata CSV).")
            dataset = stimuli.load_folder(args.folder, args.metadata, field_deg=args.field_deg,
                                          size=args.size if args.resize else None)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    out.mkdir(parents=True, exist_ok=True)
    store = stimuli.save_stimuli(dataset, out / f"{args.set}.zarr")
    picture = stimuli.save_montage(dataset, out / f"{args.set}_montage.png")
    print(f"{dataset.sizes['stimulus']} stimuli of {dataset.attrs['image_size']} px "
          f"({dataset.attrs['deg_per_pixel']:.4g} deg/px) -> {store}, {picture}")
    return 0


def command_layers(args: argparse.Namespace) -> int:
    from .activations import PRESETS, list_layers, resolve_layers
    from .models import load_model

    try:
        model = load_model(args.model, args.weights)
        layers = list_layers(model, input_size=args.size)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    width = max(len(layer.name) for layer in layers)
    print(f"{'layer':<{width}}  {'type':<18} {'output shape':<16} {'units':>10}")
    for layer in layers:
        note = f"  (runs {layer.calls}x; the last output is used)" if layer.calls > 1 else ""
        print(f"{layer.name:<{width}}  {layer.kind:<18} {str(layer.shape):<16} "
              f"{layer.n_units:>10,}{note}")
    for preset in PRESETS:
        names = [layer.name for layer in resolve_layers(model, preset, layers)]
        print(f"\npreset {preset} ({len(names)} layers): {', '.join(names)}")
    return 0


def command_extract(args: argparse.Namespace) -> int:
    from .activations import ActivationStore, extract_to_store
    from .models import load_model
    from .stimuli import load_stimuli

    try:
        model = load_model(args.model, args.weights)
        stimuli = load_stimuli(args.stimuli)
        layers = args.layers.split(",") if "," in args.layers or args.layers not in (
            "checkpoints", "all") else args.layers
        path = extract_to_store(model, stimuli, layers, Path(args.out),
                                batch_size=args.batch_size, device=args.device,
                                subset_size=args.subset, seed=args.seed,
                                keep_full=not args.no_full, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
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
                                   ("n_objects", args.objects)) if v is not None}
    config = replace(config, **overrides)
    _, record = train_embedded(config, out_dir=Path(args.out), progress=not args.quiet)
    print(f"held-out top-1 {record['held_out_accuracy']:.3f} after "
          f"{record['training_seconds']:.0f} s -> {Path(args.out) / 'embedded_cnn.pt'}")
    return 0


def command_run(args: argparse.Namespace) -> int:
    print(RUN_NOT_AVAILABLE, file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prunedistill",
        description="How a visual hierarchy reformats image information: intrinsic dimension "
        "and single-unit information, in deep networks and visual cortex.",
    )
    parser.add_argument("--version", action="version", version=f"prunedistill {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a study (not available yet)")
    run.set_defaults(func=command_run)

    id_parser = sub.add_parser(
        "id",
        help="TwoNN intrinsic dimension of a point cloud saved as .npy",
        epilog=ID_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    id_parser.add_argument("points", help=".npy/.npz array (points, features...)")
    id_parser.add_argument("--fraction", type=float, default=0.9,
                           help="fraction of the smallest mu in the fit (default 0.9)")
    id_parser.add_argument("--repeats", type=int, default=50,
                           help="random 90%% subsets for the error bar (default 50)")
    id_parser.add_argument("--seed", type=int, default=0, help="seed of the subsets (default 0)")
    id_parser.add_argument("--scale", action="store_true",
                           help="also run the scale analysis (1..20 blocks)")
    id_parser.add_argument("--out", help="write the results as JSON here")
    id_parser.set_defaults(func=command_id)

    stim = sub.add_parser(
        "stimuli", help="render or load a stimulus set; write it (zarr) and a montage (PNG)",
        epilog="examples:\n  prunedistill stimuli --set tafazoli --size 128 --out stimuli/\n"
               "  prunedistill stimuli --set training --n 200 --out stimuli/\n"
               "  prunedistill stimuli --set folder --folder my_images/ --out stimuli/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    stim.add_argument("--set", choices=["tafazoli", "bars", "training", "folder"],
                      default="tafazoli", help="which set (default tafazoli)")
    stim.add_argument("--size", type=int, default=128, help="image size in pixels (default 128)")
    stim.add_argument("--field-deg", type=float, default=120.0,
                      help="visual angle spanned by the image width (default 120)")
    stim.add_argument("--objects", help="tafazoli: comma-separated mesh names (default: the "
                      "6 natural + 4 procedural reference objects)")
    stim.add_argument("--n", type=int, default=200, help="training: number of images")
    stim.add_argument("--objects-count", type=int, default=50,
                      help="training: number of objects (default 50)")
    stim.add_argument("--seed", type=int, default=0, help="training: stream seed")
    stim.add_argument("--folder", help="folder: the image folder")
    stim.add_argument("--metadata", help="folder: the CSV (default FOLDER/metadata.csv)")
    stim.add_argument("--resize", action="store_true",
                      help="folder: resize every image to --size")
    stim.add_argument("--out", required=True, help="output folder")
    stim.add_argument("--quiet", action="store_true", help="no progress bar")
    stim.set_defaults(func=command_stimuli)

    layers = sub.add_parser("layers", help="list a model's layers, output shapes and presets")
    layers.add_argument("model", help="embedded, a torchvision name (vgg16, resnet50, ...) or "
                        "package.module:factory")
    layers.add_argument("--weights", default="untrained:0",
                        help="untrained:<seed> (default untrained:0), trained, or a file")
    layers.add_argument("--size", type=int, help="input size for models that accept any")
    layers.set_defaults(func=command_layers)

    extract = sub.add_parser("extract", help="extract layer activations of a stimulus set to a "
                             "zarr store (full layers, a unit subset, exact Gram matrices)")
    extract.add_argument("model")
    extract.add_argument("--weights", default="untrained:0")
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
    extract.add_argument("--quiet", action="store_true")
    extract.set_defaults(func=command_extract)

    train = sub.add_parser("train", help="train the embedded CNN on the rendered training stream")
    train.add_argument("--out", required=True, help="folder for embedded_cnn.pt and .json")
    train.add_argument("--recorded", action="store_true",
                       help="use the committed model's recorded training config")
    train.add_argument("--epochs", type=int)
    train.add_argument("--objects", type=int, help="number of training objects (default 50)")
    train.add_argument("--seed", type=int)
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(func=command_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
