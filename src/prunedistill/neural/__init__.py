"""Recorded visual cortex: the response schema, import/export, pseudo-populations, per-area
analyses and a planted-truth simulator."""

from .analysis import area_decoding, area_dimension, area_information, neuron_rf_maps
from .populations import complete_trials, equal_n_subsets, pseudo_population, trial_averaged
from .schema import (
                     RAT_AREAS,
                     NeuralDataError,
                     areas_in_order,
                     neural_responses,
                     stimulus_ids,
                     validate_responses,
)
from .simulate import RAT_LIKE, AreaModel, simulate_latent, simulate_population
from .study import analyse_dataset, layer_area_similarity

__all__ = [
    "AreaModel", "NeuralDataError", "RAT_AREAS", "RAT_LIKE",
    "analyse_dataset", "area_decoding", "area_dimension", "area_information", "areas_in_order",
    "complete_trials", "equal_n_subsets", "layer_area_similarity", "neural_responses",
    "neuron_rf_maps",
    "pseudo_population", "simulate_latent", "simulate_population", "stimulus_ids",
    "trial_averaged", "validate_responses",
]
