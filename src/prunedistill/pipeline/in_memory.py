"""One call from a model and images in memory to result tables, for notebooks and scripts.

Everything runs in this process (no worker pool, so a script needs no ``if __name__ ==
"__main__"`` guard) and nothing is cached: the activations go to a temporary store that is
deleted on return. The analyses and their options are those of a study; receptive fields are
``full_field`` or ``gradient`` here (bar mapping needs the study's rendered bars).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from ..analysis.options import (
    ComparisonOptions,
    DecodingOptions,
    DimensionOptions,
    InformationOptions,
)
from ..analysis.summaries import summarise
from ..analysis.tables import concat_sorted, identity

RF_METHODS = ("full_field", "gradient")


def analyse(model, images, metadata: pd.DataFrame | None = None, *,
            weights: str = "untrained:0", layers="checkpoints", field_deg: float = 120.0,
            dimension: DimensionOptions = DimensionOptions(),
            information: InformationOptions = InformationOptions(receptive_fields="full_field"),
            decoding: DecodingOptions = DecodingOptions(),
            comparison: ComparisonOptions = ComparisonOptions(), units_per_layer: int = 500,
            seed: int = 0) -> dict[str, pd.DataFrame]:
    """ID, single-unit information and decoding of every layer of ``model`` for ``images``.

    ``model``: an ``nn.Module`` (its preprocessing: its input channels, no normalisation), a
    :class:`prunedistill.models.LoadedModel`, or a name with ``weights`` as in a study.
    ``images``: gray ``(N, H, W)``, colour ``(N, 3, H, W)`` or ``(N, H, W, 3)``, in 0..1 (or
    uint8), resized and centre-cropped to the model's input as its preprocessing says;
    ``metadata``: one row per image (``object``, ``view``, numeric properties); see
    :func:`prunedistill.stimuli.from_arrays`. The ID uses the images as points.

    Returns the tidy tables of a study report (``dimension``, ``information_units``,
    ``information_summary``, ``decoding_population``, ...), keyed by name.
    """
    from ..activations import ActivationStore, extract_to_store
    from ..analysis.layers import layer_decoding, layer_dimension, layer_information
    from ..analysis.units import ORIENTATION_WAVELENGTH_DEG
    from ..models import LoadedModel, load_model
    from ..stimuli import from_arrays
    from ..stimuli.properties import orientation_energy

    if information.receptive_fields not in RF_METHODS:
        raise ValueError(f"information.receptive_fields must be one of {RF_METHODS} here "
                         f"(bar mapping needs a study); got {information.receptive_fields!r}.")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, weights)
    shown = loaded.preprocessing
    stimuli = from_arrays(images, metadata, field_deg=field_deg, size=shown.input_size,
                          resize_size=shown.resize_size, interpolation=shown.interpolation)
    n_objects = len(set(stimuli["object"].values))
    energy = orientation_energy(stimuli["images"].values, stimuli.attrs["deg_per_pixel"],
                                ORIENTATION_WAVELENGTH_DEG)
    parts: dict[str, list[pd.DataFrame]] = {}
    with tempfile.TemporaryDirectory(prefix="prunedistill-") as folder:
        store = ActivationStore(extract_to_store(
            loaded, stimuli, layers, Path(folder) / "activations.zarr",
            subset_size=units_per_layer, seed=seed, keep_full=False))
        for index, layer in enumerate(store.layers):
            ident = identity(loaded.name, loaded.weights, layer, index)
            subset = store.subset(layer)
            responses = subset.values.T
            unit_ids = subset["unit"].values
            tables = layer_dimension(store.distances(layer), dimension, ident, seed=seed)
            tables.update(layer_information(
                responses, stimuli, _rf_maps(loaded, layer, unit_ids, stimuli, information),
                pd.DataFrame({"unit": unit_ids.astype("int64")}), information, ident,
                seed=seed, energy_maps=energy))
            if decoding.enabled and n_objects > 1:
                tables.update(layer_decoding(responses, unit_ids, stimuli, decoding, ident,
                                             seed=seed))
            for name, table in tables.items():
                parts.setdefault(name, []).append(table)
    found = {name: concat_sorted(frames, ["layer_index"]) for name, frames in parts.items()}
    derived = summarise(found, dimension_alpha=dimension.alpha,
                        information_alpha=information.alpha, comparison=comparison, seed=seed)
    return {name: table for name, table in {**found, **derived}.items() if len(table)}


def _rf_maps(model, layer: str, units, stimuli, information: InformationOptions):
    """RF maps ``(units, y, x)`` on the image grid: the whole image, or input gradients."""
    import numpy as np

    shape = (len(units), stimuli.sizes["y"], stimuli.sizes["x"])
    if information.receptive_fields == "full_field" or layer == "input":
        return np.ones(shape, dtype=np.float32)
    from ..activations import resolve_device
    from ..analysis.receptive_fields import gradient_rf_maps

    return gradient_rf_maps(model, layer, units, stimuli["images"].values,
                            device=resolve_device(None)).astype(np.float32)
