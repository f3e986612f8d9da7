"""Reading and writing neural responses: our npz layout, brain-score-style netCDF, and NWB
files (units table + stimulus presentations)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import xarray as xr

from .._io import atomic_path
from .schema import NeuralDataError, neural_responses, presentation_numbers, validate_responses

NPZ_ARRAYS = """npz layout (numpy.savez), one file per dataset:
  counts          (neurons, stimuli, trials) float, NaN-padded
  area            (neurons,) str      animal, session, neuron_id: (neurons,) str, optional
  stimulus_id     (stimuli,) str      "OBJECT/vVIEW" for the rendered sets
  area_order      (areas,) str        the hierarchy, e.g. V1 LM LI LL
  rf_map          (neurons, grid_y, grid_x) float, optional, with
  rf_azimuth_deg  (grid_x,) and rf_elevation_deg (grid_y,)
  synthetic       () int, optional    1 for simulated data"""


# Per-neuron coords that travel through every format when present (the NWB reader's).
NEURON_EXTRAS = ("latency_ms", "latency_significant", "latency_p")
STIMULUS_EXTRAS = ("object",)  # a recording's own stimulus table


def _atomic(path: Path, write) -> Path:
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def save_npz(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` in the npz layout (see ``NPZ_ARRAYS``)."""
    validate_responses(ds)
    arrays = {"counts": ds["counts"].values,
              "area_order": np.asarray(ds.attrs["area_order"], dtype=str)}
    for name in ("area", "animal", "session", "neuron_id", "stimulus_id"):
        arrays[name] = ds[name].values.astype(str)
    if "rf_map" in ds:
        arrays.update(rf_map=ds["rf_map"].values, rf_azimuth_deg=ds["grid_x"].values,
                      rf_elevation_deg=ds["grid_y"].values)
    if ds.attrs.get("synthetic"):
        arrays["synthetic"] = np.array(1)
    for name in NEURON_EXTRAS:
        if name in ds.coords:
            arrays[name] = ds[name].values
    if "object" in ds.coords and "stimulus_index" not in ds.coords:
        arrays["stimulus_object"] = ds["object"].values.astype(str)
    if "window_ms" in ds.attrs:
        arrays["window_ms"] = np.array(float(ds.attrs["window_ms"]))

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return _atomic(Path(path), write)


def load_npz(path, stimuli: xr.Dataset | None = None) -> xr.Dataset:
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise NeuralDataError(f"cannot read {path} as an npz archive ({error}); is the file "
                              "complete?") from None
    with archive as data:
        missing = [k for k in ("counts", "area", "stimulus_id") if k not in data.files]
        if missing:
            raise NeuralDataError(f"{path} lacks arrays {missing}.\n{NPZ_ARRAYS}")
        optional = {k: data[k] for k in ("animal", "session", "neuron_id") if k in data.files}
        rf = {}
        if "rf_map" in data.files:
            rf = {"rf_map": data["rf_map"], "rf_azimuth_deg": data["rf_azimuth_deg"],
                  "rf_elevation_deg": data["rf_elevation_deg"]}
        order = data["area_order"].tolist() if "area_order" in data.files else None
        flags = {"synthetic": 1} if "synthetic" in data.files and int(data["synthetic"]) \
            else {}
        if "window_ms" in data.files:
            flags["window_ms"] = float(data["window_ms"])
        extras = {name: ("neuron", data[name]) for name in NEURON_EXTRAS
                  if name in data.files}
        if "stimulus_object" in data.files and stimuli is None:
            extras["object"] = ("stimulus", data["stimulus_object"].astype(str))
        ds = neural_responses(data["counts"], area=data["area"],
                              stimulus_id=data["stimulus_id"], area_order=order,
                              stimuli=stimuli, source=str(path), **optional, **rf, **flags)
    return ds.assign_coords(extras)


def to_brainscore(ds: xr.Dataset) -> xr.DataArray:
    """``presentation x neuroid`` assembly: one presentation per (stimulus, repetition),
    coords ``stimulus_id`` and ``repetition``; neuroid coords ``neuroid_id``, ``region``,
    ``animal``, ``session``. Missing trials are dropped."""
    counts = ds["counts"].values  # (neuron, stimulus, trial)
    n_neurons, n_stimuli, n_trials = counts.shape
    values = counts.transpose(1, 2, 0).reshape(n_stimuli * n_trials, n_neurons)
    keep = np.isfinite(values).any(axis=1)
    return xr.DataArray(
        values[keep], dims=("presentation", "neuroid"),
        coords={"stimulus_id": ("presentation",
                                np.repeat(ds["stimulus_id"].values, n_trials)[keep]),
                "repetition": ("presentation", np.tile(np.arange(n_trials), n_stimuli)[keep]),
                "neuroid_id": ("neuroid", ds["neuron_id"].values),
                "region": ("neuroid", ds["area"].values),
                "animal": ("neuroid", ds["animal"].values),
                "session": ("neuroid", ds["session"].values),
                **{name: ("neuroid", ds[name].values.astype(np.float64))
                   for name in NEURON_EXTRAS if name in ds.coords},
                **({"object": ("presentation", np.repeat(ds["object"].values.astype(str),
                                                         n_trials)[keep])}
                   if "object" in ds.coords and "stimulus_index" not in ds.coords else {})},
        name="neural_counts", attrs={"area_order": " ".join(ds.attrs["area_order"])})


def from_brainscore(assembly: xr.DataArray, *, area_order=None,
                    stimuli: xr.Dataset | None = None, **rf) -> xr.Dataset:
    """The inverse of :func:`to_brainscore` (any ``presentation x neuroid`` assembly with
    ``stimulus_id`` and, optionally, ``repetition`` and ``region``/``area``). Every
    presentation is kept: see :func:`presentation_numbers`."""
    if set(assembly.dims) != {"presentation", "neuroid"}:
        raise NeuralDataError(f"a brain-score assembly has dims (presentation, neuroid); got "
                              f"{assembly.dims}.")
    assembly = assembly.transpose("presentation", "neuroid")
    if "stimulus_id" not in assembly.coords:
        raise NeuralDataError("the assembly needs a `stimulus_id` presentation coordinate.")
    region = next((c for c in ("region", "area") if c in assembly.coords), None)
    if region is None:
        raise NeuralDataError("the assembly needs a `region` (or `area`) neuroid coordinate.")
    ids = assembly["stimulus_id"].values.astype(str)
    unique, stimulus = np.unique(ids, return_inverse=True)
    first_seen = np.argsort(np.unique(stimulus, return_index=True)[1], kind="stable")
    order = np.empty_like(first_seen)
    order[first_seen] = np.arange(len(first_seen))
    unique, stimulus = unique[first_seen].tolist(), order[stimulus]  # in order of appearance
    trial = presentation_numbers(stimulus, assembly["repetition"].values
                                 if "repetition" in assembly.coords else None)
    shape = (assembly.sizes["neuroid"], len(unique), int(trial.max()) + 1)
    counts = np.full(shape, np.nan)
    counts[:, stimulus, trial] = assembly.values.T
    if area_order is None and "area_order" in assembly.attrs:
        area_order = str(assembly.attrs["area_order"]).split()

    def coord(name, default):
        return assembly[name].values.astype(str) if name in assembly.coords else default

    n = assembly.sizes["neuroid"]
    ds = neural_responses(counts, area=assembly[region].values.astype(str),
                          stimulus_id=unique, area_order=area_order,
                          neuron_id=coord("neuroid_id", np.arange(n).astype(str)),
                          animal=coord("animal", None), session=coord("session", None),
                          stimuli=stimuli, source="brain-score assembly", **rf)
    extras = {name: ("neuron", assembly[name].values) for name in NEURON_EXTRAS
              if name in assembly.coords}
    if "latency_significant" in extras:
        extras["latency_significant"] = ("neuron", extras["latency_significant"][1]
                                         .astype(bool))
    if "object" in assembly.coords and stimuli is None:
        first = dict(zip(ids[::-1], assembly["object"].values.astype(str)[::-1]))
        extras["object"] = ("stimulus", np.array([first[s] for s in unique], dtype=str))
    return ds.assign_coords(extras)


KEPT_ATTRS = ("synthetic", "source", "window_ms", "seed", "n_trials", "planted_areas")


def save_netcdf(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` as a brain-score-style netCDF file: the ``neural_counts`` assembly
    (presentation x neuroid), plus ``rf_map[neuroid, grid_y, grid_x]`` when present."""
    validate_responses(ds)
    assembly = to_brainscore(ds)
    out = assembly.to_dataset()
    if "rf_map" in ds:
        out["rf_map"] = (("neuroid", "grid_y", "grid_x"), ds["rf_map"].values)
        out = out.assign_coords(grid_x=ds["grid_x"].values, grid_y=ds["grid_y"].values)
    out.attrs.update({k: ds.attrs[k] for k in KEPT_ATTRS if k in ds.attrs})
    out.attrs["area_order"] = " ".join(ds.attrs["area_order"])
    return _atomic(Path(path), lambda tmp: out.to_netcdf(tmp, engine="scipy"))


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def netcdf_engine(path) -> str:
    """``h5netcdf`` for netCDF-4 (HDF5) files, as BrainIO writes them; ``scipy`` for
    netCDF-3."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == HDF5_SIGNATURE:
        try:
            import h5netcdf  # noqa: F401
        except ImportError:
            raise ImportError(f"{path} is netCDF-4 (HDF5); reading it needs h5netcdf: pip "
                              "install h5netcdf.") from None
        return "h5netcdf"
    if head[:3] != b"CDF":
        raise NeuralDataError(f"{path} is neither netCDF-3 nor netCDF-4 (HDF5); is it a "
                              "brain-score assembly?")
    return "scipy"


def load_netcdf(path, *, area_order=None, stimuli: xr.Dataset | None = None) -> xr.Dataset:
    """Read a brain-score netCDF assembly (a lone DataArray, or ``neural_counts`` with an
    optional ``rf_map``, as :func:`save_netcdf` writes)."""
    with xr.open_dataset(path, engine=netcdf_engine(path)) as stored:
        stored = stored.load()
    names = list(stored.data_vars)
    counts_name = "neural_counts" if "neural_counts" in names else None
    if counts_name is None:
        candidates = [n for n in names if set(stored[n].dims) == {"presentation", "neuroid"}]
        if len(candidates) != 1:
            raise NeuralDataError(f"{path}: expected one presentation x neuroid assembly; "
                                  f"found variables {names}.")
        counts_name = candidates[0]
    assembly = stored[counts_name]
    assembly.attrs.update(stored.attrs)
    rf = {}
    if "rf_map" in stored:
        rf = {"rf_map": stored["rf_map"].values, "rf_azimuth_deg": stored["grid_x"].values,
              "rf_elevation_deg": stored["grid_y"].values}
    ds = from_brainscore(assembly, area_order=area_order, stimuli=stimuli, **rf)
    ds.attrs.update({k: stored.attrs[k] for k in KEPT_ATTRS if k in stored.attrs})
    ds.attrs["source"] = str(path)
    return ds


def load_responses(path, *, stimuli: xr.Dataset | None = None, nwb=None) -> xr.Dataset:
    """Any supported file by its suffix: ``.npz``, ``.nc`` (brain-score netCDF), ``.nwb``
    (read with ``nwb``, a :class:`prunedistill.neural.nwb.NWBOptions`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no neural data file at {path}.")
    if path.suffix == ".npz":
        return load_npz(path, stimuli)
    if path.suffix in (".nc", ".netcdf"):
        return load_netcdf(path, stimuli=stimuli)
    if path.suffix == ".nwb":
        from .nwb import NWBOptions, read_nwb

        return read_nwb(path, stimuli=stimuli, options=nwb or NWBOptions())
    raise NeuralDataError(f"{path}: unknown format {path.suffix!r}; use .npz (see the README "
                          "layout), .nc (brain-score netCDF) or .nwb.")


WRITABLE_SUFFIXES = (".nc", ".npz")


def save_responses(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` in the format its suffix names: ``.npz`` or ``.nc`` (brain-score)."""
    path = Path(path)
    if path.suffix not in WRITABLE_SUFFIXES:
        raise NeuralDataError(f"{path}: write .nc (brain-score netCDF) or .npz; "
                              f"{path.suffix or 'no suffix'} is not a format we write.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return (save_netcdf if path.suffix == ".nc" else save_npz)(ds, path)
