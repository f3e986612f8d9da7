"""The paper's protocol, shared by network layers and recorded areas: receptive fields,
per-unit information, decoding protocols, summaries, trained-vs-untrained verdicts and their
coupling with the ID, and the tidy table shapes they all use. Arrays and tables in, tables
out; nothing here reads configs or files."""

from .layers import layer_decoding, layer_dimension, layer_information
from .options import (
                      ComparisonOptions,
                      DecodingOptions,
                      DimensionOptions,
                      InformationOptions,
                      NeuralOptions,
                      NoiseOptions,
)
from .reformatting import compare_networks, coupling, verdicts
from .summaries import summarise
from .tables import ID_COLUMNS, identity, role_of
from .units import RFVariables, analyse_layer, analyse_units, rf_variables, summarise_units

__all__ = [
    "ComparisonOptions", "DecodingOptions", "DimensionOptions", "ID_COLUMNS",
    "InformationOptions", "NeuralOptions", "NoiseOptions", "RFVariables", "analyse_layer",
    "analyse_units", "compare_networks", "coupling", "identity", "layer_decoding",
    "layer_dimension", "layer_information", "rf_variables", "role_of", "summarise",
    "summarise_units", "verdicts",
]
